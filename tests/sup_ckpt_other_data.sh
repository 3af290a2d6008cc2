#!/bin/sh
# issue 13: a checkpoint made from other data (the ticker's file replaced
# between two runs) fails the ticker with a reason that names the way out,
# --retrain (--retry-failed cannot fix it); --retrain then trains it.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
mkdir data
cp "$DATA/GOOG.csv" data/
write_config run.ini
sed -i "s|^data_dir = .*|data_dir = $T/data|" run.ini
DB=out/tickervisor.db
TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG >run1.out 2>&1 &
sup=$!
wait_for $DB "select count(*) from jobs where state='running' and done_episodes >= 2" 60
kill -INT $sup
wait $sup || true
cp "$DATA/AAPL.csv" data/GOOG.csv
set +e
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG >run2.out 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "resumed a checkpoint of other data"
q $DB "select last_reason from jobs" | grep -q "needs --retrain (--retry-failed cannot fix it): .*other price data" ||
	fail "reason: $(q $DB "select last_reason from jobs")"
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG --retrain >run3.out 2>&1 || fail "--retrain: $(tail -3 run3.out)"
expect_eq "state" "$(q $DB "select state from jobs")" done
echo ok
