#!/bin/sh
# SIGKILL to one worker (not sent by the supervisor): the attempt counts as
# killed by the kernel's OOM killer (over budget: not charged, batch
# halved, DESIGN.md), and the next attempt resumes from the last good
# checkpoint: it starts at a position > 0, not from scratch, and finishes.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
DB=out/tickervisor.db

TV_FAULT_SLOW_MS=20 "$TV_SUPERVISOR" run run.ini --set run.tickers=MSFT >run.out 2>&1 &
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
expect_eq "first attempt: killed, not by us" \
	"$(q $DB "select exit_kind||' '||term_signal||' '||charged from attempts where id=1")" "over-budget 9 0"
killed_at=$(q $DB "select done_episodes from checkpoints where attempt_id=1 order by id desc limit 1")
start2=$(q $DB "select start_episodes from attempts where id=2")
[ "$start2" -gt 0 ] || fail "the second attempt started from scratch"
expect_eq "second attempt resumes at the last checkpoint" "$start2" "$killed_at"
# Its first reported progress is past that position too.
first2=$(q $DB "select min(done_episodes) from checkpoints where attempt_id=2")
[ "$first2" -gt "$start2" ] || fail "attempt 2's first checkpoint $first2 is not past $start2"
grep -q "resuming from .*MSFT.ckpt" run.out || fail "no 'resuming from' line"
echo "ok"
