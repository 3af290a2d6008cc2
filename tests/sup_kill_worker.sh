#!/bin/sh
# SIGKILL to one worker, not sent by the supervisor (issue 7):
# - without evidence of the kernel's OOM killer (an operator's kill -9) it is
#   a crash: charged, retried at the SAME batch size, the reason names the
#   evidence that was checked; the retry resumes from the last good
#   checkpoint (a position > 0) and finishes;
# - with evidence (the OOM counter, injected through TV_OOM_EVENTS, rises
#   during the attempt) it is over budget: not charged, batch halved, the
#   reason names the counter.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
DB=out/tickervisor.db
printf 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n' >oom.events

TV_OOM_EVENTS="$T/oom.events" TV_FAULT_SLOW_MS=20 "$TV_SUPERVISOR" run run.ini \
	--set run.tickers=MSFT >run.out 2>&1 &
sup=$!
wait_for $DB "select count(*) from jobs where state='running' and done_episodes >= 5" 60
pid=$(q $DB "select pid from attempts where ended_at is null")
[ -n "$pid" ] || fail "no open attempt"
# The kernel's OOM killer is pointed at workers, not the supervisor.
expect_eq "worker oom_score_adj" "$(cat /proc/$pid/oom_score_adj)" 1000
kill -9 "$pid"
set +e
wait "$sup"
rc=$?
set -e
expect_eq "exit status" "$rc" 0
expect_eq "state" "$(q $DB "select state from jobs")" done
expect_eq "attempts" "$(q $DB "select count(*) from attempts")" 2
expect_eq "first attempt: an external kill is a charged crash" \
	"$(q $DB "select exit_kind||' '||term_signal||' '||charged from attempts where id=1")" "crash 9 1"
q $DB "select reason from attempts where id=1" | grep -q "no OOM kill in TV_OOM_EVENTS (oom_kill 0 -> 0)" ||
	fail "reason does not name the evidence: $(q $DB "select reason from attempts where id=1")"
expect_eq "batch sizes (not halved)" "$(q $DB "select group_concat(batch_size) from attempts")" "32,32"
killed_at=$(q $DB "select done_episodes from checkpoints where attempt_id=1 order by id desc limit 1")
start2=$(q $DB "select start_episodes from attempts where id=2")
[ "$start2" -gt 0 ] || fail "the second attempt started from scratch"
expect_eq "second attempt resumes at the last checkpoint" "$start2" "$killed_at"
# Its first reported progress is past that position too.
first2=$(q $DB "select min(done_episodes) from checkpoints where attempt_id=2")
[ "$first2" -gt "$start2" ] || fail "attempt 2's first checkpoint $first2 is not past $start2"
grep -q "resuming from .*MSFT.ckpt" run.out || fail "no 'resuming from' line"
# The model is the one an undisturbed run makes, byte for byte.
"$TV_SUPERVISOR" run run.ini --db plain.db --set run.out_dir=plain --set run.tickers=MSFT \
	>plain.out 2>&1 || fail "undisturbed run failed"
cmp out/MSFT.model plain/MSFT.model || fail "model differs from an undisturbed run's"

# The same kill with the OOM counter rising: over budget, halved, free.
DB2=oom.db
TV_OOM_EVENTS="$T/oom.events" TV_FAULT_SLOW_MS=20 "$TV_SUPERVISOR" run run.ini --db $DB2 \
	--set run.out_dir=out2 --set run.tickers=MSFT >oom.out 2>&1 &
sup=$!
wait_for $DB2 "select count(*) from jobs where state='running' and done_episodes >= 5" 60
pid=$(q $DB2 "select pid from attempts where ended_at is null")
printf 'low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n' >oom.events
kill -9 "$pid"
set +e
wait "$sup"
rc=$?
set -e
expect_eq "oom: exit status" "$rc" 0
expect_eq "oom: first attempt" \
	"$(q $DB2 "select exit_kind||' '||charged from attempts where id=1")" "over-budget 0"
q $DB2 "select reason from attempts where id=1" | grep -q "OOM killer (TV_OOM_EVENTS oom_kill 0 -> 1)" ||
	fail "oom: reason does not name the evidence: $(q $DB2 "select reason from attempts where id=1")"
expect_eq "oom: batch sizes (halved)" "$(q $DB2 "select group_concat(batch_size) from attempts")" "32,16"
echo "ok"
