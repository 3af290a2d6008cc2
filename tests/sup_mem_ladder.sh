#!/bin/sh
# The memory ladder (issue 12), with the real binaries: batch_size is
# already at min_batch_size, so a budget the worker does not fit sends the
# ticker to the next rung of budget.ladder = batch,buffer: buffer_size is
# halved and the ticker starts over there and finishes.
# - The rung is recorded: jobs.rung and rung_buffer_size, each attempt's
#   buffer_size, the model file's configuration (buffer_size = B/2), the
#   log and status; the model is the one a run configured with B/2 makes.
# - A later run (--retrain) starts on that rung: one attempt, at B/2.
# - When the rung has no room (min_buffer_size above B/2) the ticker fails
#   and the reason names the rung and its floor.
# The worker touches its whole replay buffer at start (~100 bytes per
# transition), so buffer_size B = 200000 costs ~10 MiB more than B/2; the
# budget is set between the two peaks measured here first.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
B=200000
H=$((B / 2))
write_config run.ini "[budget]\npoll_ms = 20"
SETS="--set run.tickers=GOOG --set run.parallel=1 --set rewts.batch_size=8 --set rewts.min_batch_size=8"

# peak NAME BUFFER: one run without a budget; prints its peak RSS.
peak() {
	TV_FAULT_SLOW_MS=50 "$TV_SUPERVISOR" run run.ini $SETS --set rewts.buffer_size=$2 \
		--set run.out_dir=$1 --db $1.db >$1.out 2>&1 || fail "calibration $1 failed"
	v=$(q $1.db "select max(peak_rss) from attempts")
	[ -n "$v" ] && [ "$v" -gt 0 ] || fail "calibration $1: no peak"
	echo "$v"
}
pB=$(peak calB $B)
pH=$(peak calH $H)
echo "peak RSS at buffer_size $B: $pB B; at $H: $pH B"
gap=$((pB - pH))
[ "$gap" -ge $((4 * 1024 * 1024)) ] || skip "peaks at buffer_size $B and $H differ by only $gap bytes"
budget=$(( (pB + pH) / 2 ))

DB=out/tickervisor.db
TV_FAULT_SLOW_MS=50 "$TV_SUPERVISOR" run run.ini $SETS --set rewts.buffer_size=$B \
	--set budget.rss=$budget --set budget.ladder=batch,buffer --set budget.min_buffer_size=1000 \
	>run1.out 2>&1 || fail "the run failed"
expect_eq "state" "$(q $DB "select state from jobs")" done
expect_eq "attempts (batch:buffer:kind)" \
	"$(q $DB "select group_concat(batch_size||':'||buffer_size||':'||exit_kind, ' ') from attempts order by id")" \
	"8:$B:over-budget 8:$H:done"
expect_eq "the rung is recorded" "$(q $DB "select rung||' '||rung_buffer_size||' '||rung_chunk_length from jobs")" \
	"buffer $H 60"
reason=$(q $DB "select reason from attempts where id=1")
case "$reason" in
*"budget.rss"*"min_batch_size 8 reached; rung buffer: buffer_size $B -> $H"*) ;;
*) fail "attempt 1 reason: '$reason'" ;;
esac
expect_eq "attempt 2 starts over" "$(q $DB "select start_episodes from attempts where id=2")" 0
grep -q "rung buffer: buffer_size $H, chunk_length 60, batch_size 8; starting over" run1.out ||
	fail "the log does not say the rung"
grep -q "memory: budget.ladder batch,buffer (floors min_batch_size 8, min_buffer_size 1000" run1.out ||
	fail "the log does not say the ladder"
# The model file's configuration says what was trained, and the model is
# the one a run configured with buffer_size H makes (the calibration).
grep -aq "buffer_size = $H" out/GOOG.model || fail "the model's config does not say buffer_size = $H"
cmp out/GOOG.model calH/GOOG.model || fail "the model differs from a run configured at buffer_size $H"
"$TV_SUPERVISOR" status $DB >status.out 2>&1 || fail "status failed"
grep -q "rung: GOOG on rung buffer, buffer_size $H" status.out || fail "status does not show the rung"
"$TV_SUPERVISOR" status --json $DB >status.json 2>&1 || fail "status --json failed"
python3 - status.json $H <<'PY' || fail "status --json: no rung"
import json, sys
m = json.load(open(sys.argv[1]))["memory"]
r = m["rungs"]
assert r == [{"ticker": "GOOG", "rung": "buffer", "buffer_size": int(sys.argv[2]), "chunk_length": 60}], r
PY

# A later run starts on the rung that fit: one attempt, done.
TV_FAULT_SLOW_MS=50 "$TV_SUPERVISOR" run run.ini $SETS --set rewts.buffer_size=$B \
	--set budget.rss=$budget --set budget.ladder=batch,buffer --retrain >run2.out 2>&1 ||
	fail "the --retrain run failed"
expect_eq "retrain: one attempt on the rung" \
	"$(q $DB "select group_concat(buffer_size||':'||exit_kind||':'||start_episodes, ' ') from attempts where id > 2")" \
	"$H:done:0"
grep -q "GOOG starts on rung buffer of an earlier run: buffer_size $H" run2.out || fail "run 2 does not say the rung"

# No room on the rung: the reason names it and its floor.
set +e
TV_FAULT_SLOW_MS=50 "$TV_SUPERVISOR" run run.ini $SETS --set rewts.buffer_size=$B --db floor.db \
	--set run.out_dir=floor --set budget.rss=$budget --set budget.ladder=batch,buffer \
	--set budget.min_buffer_size=$((H + 1)) >run3.out 2>&1
rc=$?
set -e
expect_eq "floor: exit status" "$rc" 1
expect_eq "floor: state" "$(q floor.db "select state||' '||rung from jobs")" "failed batch"
reason=$(q floor.db "select last_reason from jobs")
case "$reason" in
*"min_batch_size 8 reached; rung buffer: buffer_size $B at its floor $((H + 1))"*) ;;
*) fail "floor reason: '$reason'" ;;
esac
grep -q "FAILED GOOG: .*rung buffer" run3.out || fail "the summary does not name the rung"
echo "ok"
