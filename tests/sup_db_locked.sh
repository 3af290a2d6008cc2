#!/bin/sh
# issue 13: another program's lock on the database (BEGIN EXCLUSIVE in the
# sqlite3 shell, which has no busy timeout of its own).
# 1. Held 12 s mid-run (SQLite's old 5 s busy timeout gave up: exit 3): the run goes on (no "database is locked" exit), the
#    loop stays responsive (hang detection and RSS polls keep their timing:
#    the log shows the lock and its release), every kept change is written
#    once the lock goes, and the models are byte-identical to an undisturbed
#    run's.
# 2. Held past run.db_lock_timeout: the workers are stopped cleanly
#    (checkpointed, exit 10), the supervisor exits non-zero naming the
#    locked file; a rerun once the lock is gone resumes and finishes with
#    the same models.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
TICKERS=GOOG,AAPL,MSFT
DB=out/tickervisor.db

"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --set run.out_dir=ref --db ref.db \
	>ref.out 2>&1 || fail "reference run failed"

hold_lock() { # DB SECONDS: BEGIN EXCLUSIVE held for SECONDS, then released
	{ echo "BEGIN EXCLUSIVE;"; echo "SELECT 'locked';"; sleep "$2"; echo "COMMIT;"; } |
		sqlite3 "$1" >lock.out 2>&1
}

# 1.
TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS >run1.out 2>&1 &
sup=$!
wait_for $DB "select count(*) from jobs where state='running' and done_episodes >= 1" 60
hold_lock $DB 12
grep -q locked lock.out || fail "the test could not take the lock: $(cat lock.out)"
set +e
wait $sup
rc=$?
set -e
[ $rc -eq 0 ] || fail "run with a 12 s lock: exit $rc: $(tail -5 run1.out)"
# The loop never waited for the lock: with workers reporting all along, no
# two log lines are more than 2.5 s apart (a blocked loop logs nothing).
gap=$(grep '^20[0-9-]*T' run1.out | cut -c12-23 |
	awk -F: '{ t = $1 * 3600 + $2 * 60 + $3; if (NR > 1 && t - p > g) g = t - p; p = t } END { printf "%.1f", g }')
awk -v g="$gap" 'BEGIN { exit !(g < 2.5) }' || fail "the loop stalled $gap s during the lock"
grep -q "locked by another program for" run1.out || fail "the lock is not logged"
expect_eq "done" "$(q $DB "select count(*) from jobs where state='done'")" 3
expect_eq "open attempts" "$(q $DB "select count(*) from attempts where ended_at is null")" 0
expect_eq "results" "$(q $DB "select count(*) from results")" 3
for t in $(echo $TICKERS | tr ',' ' '); do
	cmp out/$t.model ref/$t.model || fail "$t.model differs from the undisturbed run"
done

# 2.
rm -rf out
TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS \
	--set run.db_lock_timeout=2 >run2.out 2>&1 &
sup=$!
wait_for $DB "select count(*) from jobs where state='running' and done_episodes >= 1" 60
hold_lock $DB 8 &
locker=$!
set +e
wait $sup
rc=$?
set -e
[ $rc -ne 0 ] || fail "a lock past run.db_lock_timeout: exit 0"
grep -q "tickervisor: .*tickervisor.db: locked by another program for [0-9]* s: stopping" run2.out ||
	fail "no message naming the locked file: $(tail -5 run2.out)"
grep -q "exited interrupted (code 10)" run2.out || fail "workers not stopped cleanly: $(tail -8 run2.out)"
wait $locker || true
"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS >run3.out 2>&1 || fail "rerun failed: $(tail -5 run3.out)"
expect_eq "done after the rerun" "$(q $DB "select count(*) from jobs where state='done'")" 3
grep -q "resuming from" run3.out || fail "the rerun resumed nothing"
for t in $(echo $TICKERS | tr ',' ' '); do
	cmp out/$t.model ref/$t.model || fail "$t.model differs after the outage and rerun"
done
echo ok
