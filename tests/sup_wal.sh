#!/bin/sh
# issue 13: a reader holding a read transaction keeps SQLite from reusing
# the WAL, which then grows without bound. The supervisor notices the WAL
# past budget.wal, warns in its log and in status, and checkpoints it
# (truncating it) as soon as the reader lets go.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
DB=out/tickervisor.db
TV_FAULT_SLOW_MS=100 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,MSFT,IBM \
	--set budget.wal=64KiB >run.out 2>&1 &
sup=$!
wait_for $DB "select count(*) from jobs where state='running' and done_episodes >= 1" 60
{ echo "BEGIN; SELECT count(*) FROM jobs;"; sleep 4; echo "COMMIT;"; } | sqlite3 $DB >reader.out 2>&1 &
reader=$!
n=100
while ! grep -q "warning: the WAL" run.out && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
grep -q "warning: the WAL (.*tickervisor.db-wal) is .* past budget.wal 64.0 KiB: a reader holds a transaction open" run.out ||
	fail "no WAL warning in the log: $(grep -v checkpoint run.out | tail -3)"
"$TV_SUPERVISOR" status $DB >status.txt 2>&1 || fail "status failed"
grep -q "^warning: the WAL" status.txt || fail "no WAL warning in status: $(head -3 status.txt)"
wait $reader || true
n=100
while ! grep -q "the WAL is checkpointed" run.out && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
grep -q "the WAL is checkpointed" run.out || fail "the WAL was not checkpointed after the reader left"
wait $sup || fail "run failed: $(tail -3 run.out)"
"$TV_SUPERVISOR" status $DB | grep -q "^warning: the WAL" && fail "the warning stayed after the checkpoint"
echo ok
