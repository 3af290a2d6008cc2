#!/bin/sh
# `tickervisor status` and sqlite3 read the database while a run is going
# (readers never block the writer): the live view shows the running ticker
# with progress and RSS, the queued one pending; JSON parses; several
# databases at once; after the run, every ticker is done at 100%.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
sed -i 's/^parallel = 2/parallel = 1/' run.ini
DB=out/tickervisor.db

TV_FAULT_SLOW_MS=40 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL >run.out 2>&1 &
sup=$!
# Wait for what the live view is asserted to show (progress, and a memory
# sample flushed to the attempt), instead of racing the 1 s flush.
wait_for $DB "select count(*) from jobs j join attempts a on a.job_id = j.id
	where j.state='running' and j.done_episodes >= 2 and a.ended_at is null and a.peak_rss > 0" 60
# While it runs: the JSON view, the text view, a plain sqlite3 reader.
"$TV_SUPERVISOR" status $DB --json >live.json || fail "status --json failed during the run"
python3 - live.json <<'PY' || fail "live JSON: $(cat live.json)"
import json, sys
s = json.load(open(sys.argv[1]))
jobs = {j["ticker"]: j for j in s["jobs"]}
assert set(jobs) == {"GOOG", "AAPL"}, jobs.keys()
running = [j for j in jobs.values() if j["state"] == "running"]
assert len(running) == 1, [j["state"] for j in jobs.values()]
r = running[0]
assert r["done_episodes"] >= 2 and 0 < r["percent"] < 100, r
assert r["pid"] and r["peak_rss"] > 0 and r["batch_size"] == 32, r
other = [j for j in jobs.values() if j is not r][0]
assert other["state"] == "pending", other
assert s["totals"]["running"] == 1 and s["run"]["outcome"] in (None, "", "running"), s["run"]
PY
"$TV_SUPERVISOR" status $DB >live.txt || fail "status failed during the run"
grep -q "running" live.txt && grep -q "GOOG" live.txt && grep -q "AAPL" live.txt ||
	fail "text view: $(cat live.txt)"
[ "$(q $DB "select count(*) from jobs")" = 2 ] || fail "sqlite3 could not read during the run"
wait "$sup" || fail "run failed: $(tail run.out)"

"$TV_SUPERVISOR" status $DB --json >end.json || fail "status --json after the run"
python3 - end.json <<'PY' || fail "final JSON: $(cat end.json)"
import json, sys
s = json.load(open(sys.argv[1]))
assert all(j["state"] == "done" and j["percent"] == 100 and j["model_path"] for j in s["jobs"]), s["jobs"]
assert s["totals"]["done"] == 2
res = {r["ticker"]: r for r in s["results"]}
assert set(res) == {"GOOG", "AAPL"} and all(r["test_days"] > 0 for r in res.values()), s["results"]
PY
"$TV_SUPERVISOR" status $DB >end.txt || fail "status after the run"
grep -q "backtest, out of sample" end.txt && grep -qE "^AAPL +[0-9]+ +-?[0-9.]+%" end.txt ||
	fail "no backtest table: $(cat end.txt)"
# Two databases in one call (one per shard or host).
mkdir -p other && cp run.ini other/run.ini
"$TV_SUPERVISOR" run other/run.ini --set run.tickers=GOOG >other.out 2>&1 || fail "second run failed"
"$TV_SUPERVISOR" status $DB other/out/tickervisor.db >both.txt || fail "status of two databases"
grep -q "other/out/tickervisor.db" both.txt || fail "second database not shown: $(cat both.txt)"
# The default database is out/tickervisor.db.
"$TV_SUPERVISOR" status >default.txt || fail "status without arguments"
grep -q "AAPL" default.txt || fail "default database not read: $(cat default.txt)"
echo "ok"
