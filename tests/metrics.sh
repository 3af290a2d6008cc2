#!/bin/sh
# Issue 10, metrics: run.metrics_file is a valid Prometheus textfile
# (checked by tests/promcheck.py, strict) while the run goes and at its end,
# replaced atomically (never read half-written, no temp file left), with
# values that match the database: jobs by state, per-ticker progress, RSS
# and budget, attempts by exit kind, last success, run duration; the run's
# name, which holds backslashes (a quote is not allowed in a run name),
# escaped in its label. The
# checker itself rejects broken files.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
CHECK="python3 $TV_SOURCE_ROOT/tests/promcheck.py"
# The checker bites: each of these is rejected.
printf 'tickervisor_x 1\n' >bad1.prom                                     # no HELP/TYPE
printf '# HELP tickervisor_x h\n# TYPE tickervisor_x counter\ntickervisor_x 1\n' >bad2.prom  # counter without _total
printf '# HELP tickervisor_x h\n# TYPE tickervisor_x gauge\ntickervisor_x{a="q\\z"} 1\n' >bad3.prom  # bad escape
printf '# HELP other_x h\n# TYPE other_x gauge\nother_x 1\n' >bad4.prom  # no prefix
printf '# HELP tickervisor_x_ms h\n# TYPE tickervisor_x_ms gauge\ntickervisor_x_ms 1\n' >bad5.prom  # not base units
printf '# HELP tickervisor_x h\n# TYPE tickervisor_x gauge\ntickervisor_x 1' >bad6.prom  # no final newline
for f in bad1 bad2 bad3 bad4 bad5 bad6; do
	if $CHECK $f.prom >/dev/null 2>$f.err; then fail "promcheck accepted $f.prom"; fi
done

mkdir data metrics
for t in AAA BBB CCC DDD; do ln -s "$DATA/GOOG.csv" data/$t.csv; done
write_config run.ini '[budget]\nrss = 256MiB'
sed -i "s|^data_dir = .*|data_dir = $T/data|; s|^name = .*|name = my\\\\q\\\\ run|" run.ini
echo "metrics_file = metrics/tv.prom" >>run.ini
# [run] is the first section: move the line there.
python3 - run.ini <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().split("\n")
lines.remove("metrics_file = metrics/tv.prom")
lines.insert(1, "metrics_file = metrics/tv.prom")
open(p, "w").write("\n".join(lines))
PY
# Each worker touches 48 MiB, gives it back and trains on: its current
# RSS then ends far below its peak, so the two gauges cannot be confused.
FAKE_ALLOC_MB=48 FAKE_HOLD_MS=300 FAKE_FREE=1 \
FAKE_EPISODES=40 FAKE_SLEEP_MS=100 "$TV_SUPERVISOR" run run.ini --set run.parallel=2 \
	--worker "$TV_BUILD_ROOT/tests/sup_fake_worker" >run.out 2>&1 &
sup=$!
# While it runs: read it often; every read is a whole, valid file.
n=0 reads=0
while kill -0 $sup 2>/dev/null && [ $n -lt 300 ]; do
	if [ -f metrics/tv.prom ]; then
		cp metrics/tv.prom live.prom 2>/dev/null || true
		$CHECK live.prom >live.json 2>live.err || fail "mid-run file invalid: $(cat live.err)"
		[ "$reads" -gt 0 ] || cp live.json first.json
		reads=$((reads + 1))
	fi
	sleep 0.1
	n=$((n + 1))
done
wait $sup || fail "run failed: $(tail run.out)"
[ "$reads" -ge 2 ] || fail "the metrics file was read only $reads times during the run"
grep -q "tickervisor_run_running 1" live.prom || fail "no mid-run file says the run is running"
$CHECK metrics/tv.prom >end.json 2>end.err || fail "final file invalid: $(cat end.err)"
[ "$(ls metrics)" = "tv.prom" ] || fail "files left in the metrics folder: $(ls metrics)"
DB=out/tickervisor.db
python3 - end.json $DB <<'PY' || fail "final values: $(cat metrics/tv.prom)"
import json, sqlite3, sys
s = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
def get(metric, **lab):
    v = [x["value"] for x in s if x["name"] == metric and x["labels"] == lab]
    assert len(v) == 1, (metric, lab, v)
    return v[0]
assert get("tickervisor_jobs", state="done") == 4 and get("tickervisor_jobs", state="running") == 0
assert get("tickervisor_jobs", state="pending") == 0 and get("tickervisor_jobs", state="failed") == 0
for t in ("AAA", "BBB", "CCC", "DDD"):
    assert get("tickervisor_ticker_done_episodes", ticker=t) == 40
    assert get("tickervisor_ticker_total_episodes", ticker=t) == 40
    assert get("tickervisor_ticker_progress_ratio", ticker=t) == 1
    peak, cur = db.execute("select a.peak_rss, a.cur_rss from attempts a join jobs j on j.id=a.job_id"
                           " where ticker=? order by a.id desc limit 1", (t,)).fetchone()
    assert peak >= 48 << 20 and cur < peak - (24 << 20), ("the fixture's RSS fell too little", t, peak, cur)
    assert get("tickervisor_ticker_peak_rss_bytes", ticker=t) == peak, (t, peak)
    assert get("tickervisor_ticker_rss_bytes", ticker=t) == 0
    assert get("tickervisor_ticker_attempts_total", ticker=t) == 1
assert get("tickervisor_budget_rss_bytes") == 256 << 20
assert get("tickervisor_attempts_total", exit_kind="done") == 4
last, start, end = db.execute("select (select max(ended_at) from attempts), started_at, ended_at"
                              " from runs").fetchone()
assert abs(get("tickervisor_last_success_timestamp_seconds") - last) < 0.001
assert abs(get("tickervisor_run_duration_seconds") - (end - start)) < 0.001
assert get("tickervisor_run_running") == 0
assert get("tickervisor_run_info", run="1", name='my\\q\\ run', host=db.execute(
    "select host from runs").fetchone()[0]) == 1
PY
# The first file (1 s in, two tickers running, two waiting for a slot):
# a ticker not started yet has no total and progress 0, a running one
# done/total.
python3 - first.json <<'PY' || fail "first file: $(cat first.json)"
import json, sys
s = json.load(open(sys.argv[1]))
def per(metric):
    return {x["labels"]["ticker"]: x["value"] for x in s if x["name"] == metric}
done, total = per("tickervisor_ticker_done_episodes"), per("tickervisor_ticker_total_episodes")
prog = per("tickervisor_ticker_progress_ratio")
attempts = per("tickervisor_ticker_attempts_total")
waiting = [t for t in total if attempts[t] == 0]
assert len(waiting) == 2 and all(total[t] == 0 and prog[t] == 0 for t in waiting), (attempts, total, prog)
for t in total:
    want = done[t] / total[t] if total[t] else 0
    assert abs(prog[t] - want) < 1e-9, (t, prog[t], want)
PY
# Every rewrite succeeded, so no warning about the file.
if grep -i "metrics_file" run.out; then fail "a warning about run.metrics_file"; fi
grep -qF 'name="my\\q\\ run"' metrics/tv.prom || fail "label not escaped: $(grep run_info metrics/tv.prom)"

# A ticker done without ever reporting its size (a worker that sends no
# progress): total 0, and progress 1 - it is finished, not waiting.
mkdir metrics0
FAKE_EPISODES=0 "$TV_SUPERVISOR" run run.ini --set run.tickers=AAA --db zero.db --set run.out_dir=zout \
	--set run.metrics_file="$T/metrics0/tv.prom" --worker "$TV_BUILD_ROOT/tests/sup_fake_worker" \
	>zero.out 2>&1 || fail "the run without progress failed: $(tail -3 zero.out)"
expect_eq "state" "$(q zero.db "select state||' '||total_episodes from jobs")" "done 0"
grep -qx 'tickervisor_ticker_total_episodes{ticker="AAA"} 0' metrics0/tv.prom &&
	grep -qx 'tickervisor_ticker_progress_ratio{ticker="AAA"} 1' metrics0/tv.prom ||
	fail "a done ticker of unknown size: $(grep 'ticker="AAA"' metrics0/tv.prom)"
echo "ok"
