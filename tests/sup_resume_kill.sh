#!/bin/sh
# SIGKILL the supervisor while two workers run: no worker survives it
# (PR_SET_PDEATHSIG); running it again closes the lost attempts (not
# charged), resumes the unfinished tickers from their checkpoints, does
# not retrain the finished ones, and every model is byte-identical to an
# undisturbed run of the same configuration.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
TICKERS=GOOG,AAPL,MSFT,IBM

# The reference: undisturbed.
"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --set run.out_dir=ref --db ref.db \
	>ref.out 2>&1 || fail "reference run failed"

DB=out/tickervisor.db
TV_FAULT_SLOW_MS=25 "$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS >run1.out 2>&1 &
sup=$!
wait_for $DB "select count(*) >= 1 from jobs where state='done'" 60
wait_for $DB "select count(*) >= 1 from jobs where state='running' and done_episodes > 0" 60
kill -9 "$sup"
wait "$sup" 2>/dev/null || true

# No worker outlives its supervisor.
no_worker_left

done_before=$(q $DB "select group_concat(j.ticker||':'||(select count(*) from attempts a where a.job_id=j.id)) from jobs j where state='done' order by ticker")
open_before=$(q $DB "select count(*) from attempts where ended_at is null")
[ "$open_before" -ge 1 ] || fail "no attempt was open at the kill"

"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS >run2.out 2>&1 || fail "rerun failed"
expect_eq "done jobs" "$(q $DB "select count(*) from jobs where state='done'")" 4
expect_eq "lost attempts closed, not charged" \
	"$(q $DB "select count(*) from attempts where exit_kind='supervisor-lost' and charged=0")" "$open_before"
expect_eq "open attempts" "$(q $DB "select count(*) from attempts where ended_at is null")" 0
# The per-ticker attempt counts of the tickers done before the kill did
# not change.
for entry in $(echo "$done_before" | tr ',' ' '); do
	t=${entry%%:*}
	n=${entry#*:}
	expect_eq "$t attempts (done before the kill, not retrained)" \
		"$(q $DB "select count(*) from attempts a join jobs j on a.job_id=j.id where j.ticker='$t'")" "$n"
done
resumed=$(q $DB "select count(*) from attempts where run_id=2 and start_episodes > 0")
[ "$resumed" -ge 1 ] || fail "no attempt of the rerun resumed from a checkpoint"
for t in $(echo $TICKERS | tr ',' ' '); do
	cmp "out/$t.model" "ref/$t.model" || fail "$t.model differs from the undisturbed run"
done
echo "ok"
