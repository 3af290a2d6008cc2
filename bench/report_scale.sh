#!/usr/bin/env bash
# Issue 10 at scale: a synthetic 500-ticker database (the supervisor runs a
# protocol-speaking stand-in worker over 500 tickers, then long series are
# added with sqlite3: 2 attempts x 3000 memory samples, 1000 loss samples,
# a 250-day equity curve and 12 refits x 10 models of weights per ticker).
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
mkdir data
for i in $(seq -w 0 499); do ln -s "$SRC/examples/data/GOOG.csv" "data/T$i.csv"; done
cat >run.ini <<INI
[run]
name = scale
data_dir = $T/data
out_dir = out
parallel = 4
[budget]
rss = 1GiB
INI
# The baseline writes the database (its schema), then is timed on it.
FAKE_EPISODES=20 "$OLD/supervisor/tickervisor" run run.ini \
	--worker "$OLD/tests/sup_fake_worker" >old-run.out 2>&1
DB=out/tickervisor.db
python3 - "$DB" <<'PY'
import math, random, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
random.seed(1)
jobs = db.execute("select id from jobs").fetchall()
for (jid,) in jobs:
    a1 = db.execute("select id, started_at from attempts where job_id=?", (jid,)).fetchone()
    # a second, earlier attempt killed over budget at twice the batch
    cur = db.execute("insert into attempts(job_id, run_id, pid, batch_size, started_at, ended_at,"
                     " exit_kind, peak_rss) values(?, 1, 1, 64, ?, ?, 'over-budget', ?)",
                     (jid, a1[1] - 400, a1[1] - 100, 1100 << 20))
    for aid, t0, top in ((cur.lastrowid, a1[1] - 400, 1100), (a1[0], a1[1], 700)):
        db.executemany("insert into mem_samples values(?,?,?,0,0,0,0,0)",
                       [(aid, t0 + k * 0.1, int((top * min(1, k / 2500) + random.random() * 20) * 1048576))
                        for k in range(3000)])
    db.executemany("insert into loss_samples values(?,?,0,?,0,?,?,0,?)",
                   [(a1[0], a1[1] + k, k, k, 1 / (1 + k * 0.01) + random.random() * 0.1,
                     random.gauss(0, 5)) for k in range(1000)])
    rid = db.execute("select max(id) from results where job_id=?", (jid,)).fetchone()[0]
    if rid is None:
        continue
    db.execute("update results set total_return=?, buy_hold_return=?, sharpe=?, max_drawdown=?,"
               " test_days=250 where id=?", (random.gauss(0.1, 0.2), random.gauss(0.1, 0.2),
                                             random.gauss(0.5, 0.5), random.random() * 0.4, rid))
db.commit()
PY
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
