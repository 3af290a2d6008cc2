#!/usr/bin/env bash
# Issue 10 at scale: a synthetic 500-ticker database (bench/scale_db.sh:
# the supervisor runs a protocol-speaking stand-in worker over 500 tickers,
# then long series are added with sqlite3: 2 attempts x 3000 memory
# samples, 1000 loss samples; here a 250-day equity curve and 12 refits x
# 10 models of weights per ticker too).
# Measures `tickervisor status` (text and JSON; median of 20 runs) against
# the status of a baseline build on the same data, `tickervisor report`
# (time, size) and the report in headless Chromium (--dump-dom and
# --screenshot, wall time each).
#   bench/report_scale.sh NEW_BUILD BASELINE_BUILD   (both meson build dirs)
set -euo pipefail
NEW=$(realpath "$1") OLD=$(realpath "$2")
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/tv-scale.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
# The baseline writes the database (its schema), then is timed on it.
"$SRC/bench/scale_db.sh" "$OLD" "$T"
DB=out/tickervisor.db
# A copy in the baseline's schema; the new binary migrates the original
# (a run with nothing left to do) and gets the curves too.
cp -r out old-out
"$NEW/supervisor/tickervisor" run run.ini --worker "$NEW/tests/sup_fake_worker" >new-run.out 2>&1
python3 - "$DB" <<'PY'
import random, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
random.seed(2)
for (rid,) in db.execute("select id from results").fetchall():
    db.executemany("insert into result_curve values(?,?,?,?)",
                   [(rid, d, 1 + d * 0.0004 + random.gauss(0, 0.01), 1 + d * 0.0003) for d in range(251)])
    db.executemany("insert into result_weights values(?,?,?,?,?)",
                   [(rid, f, 20200101 + f, m, 0.1) for f in range(12) for m in range(10)])
db.commit()
PY
# Median wall ms of 20 runs each, new and baseline interleaved (the load of
# a shared machine drifts): prints "NEW OLD".
time_pair() {
	python3 - "$@" <<'PY'
import statistics, subprocess, sys, time
new, old, args = sys.argv[1], sys.argv[2], sys.argv[3:]
ts = {new: [], old: []}
for _ in range(20):
    for exe, db in ((new, "out/tickervisor.db"), (old, "old-out/tickervisor.db")):
        t = time.perf_counter()
        subprocess.run([exe, "status", db] + args, stdout=subprocess.DEVNULL, check=True)
        ts[exe].append((time.perf_counter() - t) * 1000)
print("%.1f %.1f" % (statistics.median(ts[new]), statistics.median(ts[old])))
PY
}
read -r new_text old_text < <(time_pair "$NEW/supervisor/tickervisor" "$OLD/supervisor/tickervisor")
read -r new_json old_json < <(time_pair "$NEW/supervisor/tickervisor" "$OLD/supervisor/tickervisor" --json)
t0=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o report.cpu "$NEW/supervisor/tickervisor" report $DB -o report.html --csv csv
t1=$(date +%s.%N)
size=$(stat -c %s report.html)
chrome() { timeout 300 chromium --headless --no-sandbox --disable-gpu --no-first-run \
	--user-data-dir="$T/chrome" "$@"; }
tiny=$(mktemp "$T/tiny.XXXX.html"); echo '<p>x</p>' >"$tiny"
t5=$(date +%s.%N)
chrome --dump-dom "file://$tiny" >/dev/null 2>&1
t6=$(date +%s.%N)
t2=$(date +%s.%N)
chrome --dump-dom "file://$T/report.html" >dom.html 2>/dev/null
t3=$(date +%s.%N)
chrome --screenshot="$T/shot.png" --window-size=1280,2000 "file://$T/report.html" >/dev/null 2>&1
t4=$(date +%s.%N)
[ -z "${KEEP_SHOT:-}" ] || cp shot.png "$KEEP_SHOT"
echo "rows: $(sqlite3 $DB 'select count(*) from jobs') jobs, $(sqlite3 $DB 'select count(*) from attempts') attempts," \
	"$(sqlite3 $DB 'select count(*) from mem_samples') memory samples, $(sqlite3 $DB 'select count(*) from loss_samples') loss samples;" \
	"database $(du -m $DB | cut -f1) MiB"
echo "report CPU (user sys, s): $(cat report.cpu)"
echo "status text: new $new_text ms, baseline $old_text ms"
echo "status --json: new $new_json ms, baseline $old_json ms"
python3 -c "print('report: %.2f s, %.1f MiB (%d svg); chromium --dump-dom %.2f s, --screenshot %.2f s; chromium on a one-line page %.2f s' % ($t1 - $t0, $size / 1048576, open('$T/report.html').read().count('<svg'), $t3 - $t2, $t4 - $t3, $t6 - $t5))"
