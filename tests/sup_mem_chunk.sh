#!/bin/sh
# The chunk rung of the memory ladder (issue 12), end to end. The worker
# is tests/seqlen_worker.sh: the real worker next to a helper that holds
# memory in proportion to rewts.chunk_length, as users' workers whose
# memory grows with the sequence length do (the C worker's own memory
# hardly depends on it: docs/memory.md). budget.ladder = batch,buffer,chunk
# with batch_size at min_batch_size and min_buffer_size at half of
# buffer_size, and a budget between the peaks at chunk_length C and C/2:
# - attempt 1 (B, C) is over: the buffer rung halves buffer_size to its
#   floor H; attempt 2 (H, C) is still over: the chunk rung halves
#   chunk_length; attempt 3 (H, C/2) fits and finishes;
# - the rung is recorded (jobs.rung, rung_buffer_size, rung_chunk_length,
#   each attempt's shape), said in the log and by status (text and JSON);
# - the model file's configuration says chunk_length = C/2, and the model
#   is byte for byte the one the real worker makes in a run configured
#   with chunk_length C/2, buffer_size H, batch_size 8;
# - a budget below the peak at C/2 (the chunk rung at its floor) fails the
#   ticker, and the reason names the last rung and its floor.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
B=4000
H=$((B / 2))
C=120
c=$((C / 2))
# The helper holds 256 KiB per day: 30 MiB at C, 15 MiB at C/2.
export SEQLEN_REAL_WORKER="$TV_WORKER" SEQLEN_BYTES_PER_DAY=262144
SEQ="$TV_SOURCE_ROOT/tests/seqlen_worker.sh"
write_config run.ini "[budget]\npoll_ms = 20"
# The worker reads chunk_length from the file: C is set there.
sed -i "s/^chunk_length = .*/chunk_length = $C/" run.ini
SETS="--set run.tickers=GOOG --set run.parallel=1 --set rewts.batch_size=8 --set rewts.min_batch_size=8"
LADDER="--set budget.ladder=batch,buffer,chunk --set budget.min_buffer_size=$H --set budget.min_chunk_length=$c"

# peak NAME BUFFER CHUNK: one run of the worker without a budget, configured
# at CHUNK in its file (which the worker reads); prints its peak RSS.
peak() {
	sed "s/^chunk_length = .*/chunk_length = $3/" run.ini >$1.ini
	TV_FAULT_SLOW_MS=50 "$TV_SUPERVISOR" run $1.ini $SETS --set rewts.buffer_size=$2 \
		--worker "$SEQ" --set run.out_dir=$1 --db $1.db >$1.out 2>&1 ||
		fail "calibration $1 failed"
	v=$(q $1.db "select max(peak_rss) from attempts")
	[ -n "$v" ] && [ "$v" -gt 0 ] || fail "calibration $1: no peak"
	echo "$v"
}
pC=$(peak calC $H $C)
pc=$(peak calc $H $c)
echo "peak RSS at buffer_size $H: chunk_length $C: $pC B; $c: $pc B"
gap=$((pC - pc))
[ "$gap" -ge $((8 * 1024 * 1024)) ] || fail "peaks at chunk_length $C and $c differ by only $gap bytes"
budget=$(( (pC + pc) / 2 ))

DB=out/tickervisor.db
TV_FAULT_SLOW_MS=50 "$TV_SUPERVISOR" run run.ini $SETS --set rewts.buffer_size=$B --worker "$SEQ" \
	--set budget.rss=$budget $LADDER >run1.out 2>&1 || fail "the run failed"
expect_eq "state" "$(q $DB "select state from jobs")" done
expect_eq "attempts (batch:buffer:chunk:kind)" \
	"$(q $DB "select group_concat(batch_size||':'||buffer_size||':'||chunk_length||':'||exit_kind, ' ') from attempts order by id")" \
	"8:$B:$C:over-budget 8:$H:$C:over-budget 8:$H:$c:done"
expect_eq "the rung is recorded" "$(q $DB "select rung||' '||rung_buffer_size||' '||rung_chunk_length from jobs")" \
	"chunk $H $c"
reason=$(q $DB "select reason from attempts where id=2")
case "$reason" in
*"budget.rss"*"min_batch_size 8 reached; rung chunk: chunk_length $C -> $c"*) ;;
*) fail "attempt 2 reason: '$reason'" ;;
esac
expect_eq "attempt 3 starts over" "$(q $DB "select start_episodes from attempts where id=3")" 0
grep -q "rung chunk: buffer_size $H, chunk_length $c, batch_size 8; starting over" run1.out ||
	fail "the log does not say the rung"
grep -q "memory: budget.ladder batch,buffer,chunk (floors min_batch_size 8, min_buffer_size $H, min_chunk_length $c)" run1.out ||
	fail "the log does not say the ladder"
# The model file says what was trained, and it is the real worker's model
# of a run configured at that shape.
grep -aq "chunk_length = $c" out/GOOG.model || fail "the model's config does not say chunk_length = $c"
grep -aq "buffer_size = $H" out/GOOG.model || fail "the model's config does not say buffer_size = $H"
"$TV_SUPERVISOR" run run.ini $SETS --set rewts.buffer_size=$H --set rewts.chunk_length=$c \
	--set run.out_dir=direct --db direct.db >direct.out 2>&1 || fail "the direct run failed"
cmp out/GOOG.model direct/GOOG.model ||
	fail "the model differs from a run configured at chunk_length $c, buffer_size $H, batch_size 8"
"$TV_SUPERVISOR" status $DB >status.out 2>&1 || fail "status failed"
grep -q "rung: GOOG on rung chunk, buffer_size $H, chunk_length $c" status.out ||
	fail "status does not show the rung: $(cat status.out)"
"$TV_SUPERVISOR" status --json $DB >status.json 2>&1 || fail "status --json failed"
python3 - status.json $H $c <<'PY' || fail "status --json: no rung"
import json, sys
r = json.load(open(sys.argv[1]))["memory"]["rungs"]
assert r == [{"ticker": "GOOG", "rung": "chunk", "buffer_size": int(sys.argv[2]),
              "chunk_length": int(sys.argv[3])}], r
PY

# Below the peak at C/2: every rung at its floor, the ticker fails and
# the reason names the last rung.
low=$((pc - gap / 2))
set +e
TV_FAULT_SLOW_MS=50 "$TV_SUPERVISOR" run run.ini $SETS --set rewts.buffer_size=$B --worker "$SEQ" \
	--db low.db --set run.out_dir=low --set budget.rss=$low $LADDER >low.out 2>&1
rc=$?
set -e
expect_eq "low: exit status" "$rc" 1
expect_eq "low: state" "$(q low.db "select state||' '||rung||' '||rung_chunk_length from jobs")" "failed chunk $c"
expect_eq "low: attempts (buffer:chunk:kind)" \
	"$(q low.db "select group_concat(buffer_size||':'||chunk_length||':'||exit_kind, ' ') from attempts order by id")" \
	"$B:$C:over-budget $H:$C:over-budget $H:$c:over-budget"
reason=$(q low.db "select last_reason from jobs")
case "$reason" in
*"min_batch_size 8 reached; rung buffer: buffer_size $H at its floor $H; rung chunk: chunk_length $c at its floor $c") ;;
*) fail "low reason: '$reason'" ;;
esac
grep -q "FAILED GOOG: .*rung chunk: chunk_length $c at its floor $c" low.out || fail "the summary does not name the last rung"
echo "ok"
