#!/bin/sh
# Over the RSS budget: with a budget between the worker's peak RSS at
# batch B and at B/2 (measured here first, so the test holds on any build:
# plain, sanitized, with or without the CUDA libraries), the attempt at B
# is killed over budget, the next one resumes at B/2 from the checkpoint
# and finishes: exactly one halving. The batch size that fit (B/2) is
# stored, and a later run (--retrain) starts there.
#
# The configuration makes the batch matter and keeps it quick: hidden
# 128,128 and B = 2560, so the activations (4 layers x batch x width x 2 x
# 2 nets) are ~16 MiB at B and half that at B/2. Gradient steps start once
# the replay buffer holds batch_size transitions: at B only near the end of
# episode 5 of 5 (5 x 520 days), so the attempt at B is killed late and
# the one at B/2 resumes from the checkpoint after episode 4.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
B=2560
H=$((B / 2))
write_config run.ini
cat >>run.ini <<EOF2

[budget]
poll_ms = 20
EOF2
SETS="--set run.tickers=GOOG --set run.parallel=1 --set run.heartbeat=0.01
 --set rewts.hidden=128,128 --set rewts.min_batch_size=512 --set rewts.buffer_size=2600
 --set rewts.chunk_length=520 --set rewts.episodes_per_chunk=5"

# peak NAME BATCH FAULT: runs one attempt without a budget and prints its
# peak RSS in bytes as the supervisor measures it (private resident memory,
# sampled every poll_ms). FAULT stops it early with exit 12 (not retried).
peak() {
	set +e
	env $3 TV_FAULT_SLOW_MS=100 "$TV_SUPERVISOR" run run.ini $SETS \
		--set rewts.batch_size=$2 --set run.out_dir=$1 --db $1.db >$1.out 2>&1
	set -e
	v=$(q $1.db "select peak_rss from attempts where id=1")
	[ -n "$v" ] && [ "$v" -gt 0 ] || fail "calibration $1: no peak"
	echo "$v"
}
# At B: stop after episode 5 (the attempt at B is killed there anyway).
# At B/2: the whole job from scratch, which the --retrain run repeats.
pB=$(peak calB $B TV_FAULT_EXIT_AT=5:12)
pH=$(peak calH $H TV_FAULT_NONE=1)
echo "peak RSS at batch $B: $pB B; at batch $H: $pH B"
gap=$((pB - pH))
# Under AddressSanitizer the allocator keeps freed memory resident, so RSS
# grows with run time more than with the batch size: the gap closes and
# the test says so instead of guessing.
[ "$gap" -ge $((2 * 1024 * 1024)) ] || skip "peaks at $B and $H differ by only $gap bytes"
budget=$(( (pB + pH) / 2 ))

DB=out/tickervisor.db
TV_FAULT_SLOW_MS=100 "$TV_SUPERVISOR" run run.ini $SETS --set rewts.batch_size=$B \
	--set budget.rss=$budget >run1.out 2>&1 || fail "the run failed"
expect_eq "state" "$(q $DB "select state from jobs")" done
expect_eq "attempts" "$(q $DB "select group_concat(batch_size||':'||exit_kind, ' ') from attempts order by id")" \
	"$B:over-budget $H:done"
expect_eq "first attempt killed by us (SIGKILL), not charged" \
	"$(q $DB "select term_signal||' '||charged from attempts where id=1")" "9 0"
p1=$(q $DB "select peak_rss from attempts where id=1")
p2=$(q $DB "select peak_rss from attempts where id=2")
[ "$p1" -gt "$budget" ] || fail "attempt 1 peak $p1 not over the budget $budget"
[ "$p2" -le "$budget" ] || fail "attempt 2 peak $p2 over the budget $budget"
reason=$(q $DB "select reason from attempts where id=1")
case "$reason" in
*budget.rss*peak*"batch_size $B"*) ;;
*) fail "attempt 1 reason: '$reason'" ;;
esac
# Attempt 2 resumes where attempt 1's last checkpoint left off (from
# scratch if attempt 1 was killed before its first one: a worker that
# touches its batch buffers at start goes over at once).
last=$(q $DB "select coalesce(max(done_episodes), 0) from checkpoints where attempt_id=1")
expect_eq "attempt 2 resumes at attempt 1's last checkpoint" \
	"$(q $DB "select start_episodes from attempts where id=2")" "$last"
expect_eq "stored batch sizes (current, fit)" \
	"$(q $DB "select batch_size||' '||fit_batch_size from jobs")" "$H $H"

# A later run retrains from scratch and starts at the batch size that fit.
"$TV_SUPERVISOR" run run.ini $SETS --set rewts.batch_size=$B --set budget.rss=$budget \
	--retrain >run2.out 2>&1 || fail "the --retrain run failed"
expect_eq "retrain attempt" "$(q $DB "select batch_size||':'||exit_kind||':'||start_episodes from attempts where id=3")" \
	"$H:done:0"
expect_eq "attempts after retrain" "$(q $DB "select count(*) from attempts")" 3
echo "ok"
