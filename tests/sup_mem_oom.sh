#!/bin/sh
# A kernel OOM kill lowers the workers at once for the rest of the run
# (issue 12). The evidence is the supervisor's own kill attribution (the
# OOM counter, here a fake memory.events through TV_OOM_EVENTS): with three
# workers running, one is SIGKILLed while the counter rises. Then at most
# two run at once: the killed ticker's retry waits for one of the others,
# the log and the database (runs.workers_limit) say so, and every ticker
# still finishes.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
DB=out/tickervisor.db
printf 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n' >oom.events
TV_OOM_EVENTS="$T/oom.events" TV_FAULT_SLOW_MS=20 "$TV_SUPERVISOR" run run.ini \
	--set run.tickers=GOOG,MSFT,IBM --set run.parallel=3 >run.out 2>&1 &
sup=$!
wait_for $DB "select count(*) = 3 from attempts where ended_at is null" 60
wait_for $DB "select count(*) from jobs where state='running' and done_episodes >= 2" 60
pid=$(q $DB "select a.pid from attempts a join jobs j on a.job_id = j.id where j.ticker='MSFT' and a.ended_at is null")
[ -n "$pid" ] || fail "no MSFT attempt"
printf 'low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n' >oom.events
kill -9 "$pid"
set +e
wait "$sup"
rc=$?
set -e
expect_eq "exit status" "$rc" 0
expect_eq "all done" "$(q $DB "select group_concat(state, ',') from jobs")" "done,done,done"
expect_eq "the killed attempt" "$(q $DB "select exit_kind from attempts where id=(select min(a.id) from attempts a join jobs j on a.job_id=j.id where j.ticker='MSFT')")" \
	over-budget
expect_eq "limit recorded" "$(q $DB "select workers_limit from runs")" 2
grep -q "MSFT killed by the kernel's OOM killer with 3 workers running: at most 2 at once for the rest of the run" run.out ||
	fail "the log does not say the new limit"
# The retry started only when one of the other two had ended.
retry_start=$(q $DB "select max(a.started_at) from attempts a join jobs j on a.job_id=j.id where j.ticker='MSFT'")
first_end=$(q $DB "select min(a.ended_at) from attempts a join jobs j on a.job_id=j.id where j.ticker!='MSFT'")
python3 -c "import sys; sys.exit(0 if float('$retry_start') >= float('$first_end') else 1)" ||
	fail "the retry started at $retry_start, before another worker ended at $first_end"
echo "ok"
