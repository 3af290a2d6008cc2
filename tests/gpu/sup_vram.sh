#!/usr/bin/env bash
# The supervisor's VRAM budget on a real GPU: a budget between the worker's
# device peak at batch B/2 and at B makes the ticker finish after exactly one
# halving, with the over-budget attempt at B and the done one at B/2.
# The peaks are measured first by the supervisor itself (NVML where the
# driver has it, else the worker's own device bytes), with no budget.
# Exit 77 (skipped) without a CUDA device.
set -u
S=${TV_SUPERVISOR:?}
SRC=${TV_SOURCE_ROOT:?}
[ -e /proc/driver/nvidia/version ] || [ -e /dev/nvidiactl ] || { echo "no NVIDIA driver: skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/data"
cp "$SRC/examples/data/AAPL.csv" "$T/data/AAPL.csv"
B=4096
# Wide layers and a big batch: the batch-sized device buffers dominate.
cat > "$T/run.ini" <<INI
[run]
data_dir = data
out_dir = out
gpus = auto
device = cuda
max_attempts = 1
heartbeat = 0.02
[budget]
poll_ms = 50
[rewts]
batch_size = $B
min_batch_size = 1024
buffer_size = $B
hidden = 2048,2048
chunk_length = 120
episodes_per_chunk = 30
INI
q() { python3 -c "import sqlite3,sys; print('\n'.join('|'.join(map(str,r)) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])))" "$@"; }
peak() { # peak device bytes of a run at batch $1
	rm -rf "$T/out"
	"$S" run "$T/run.ini" --set rewts.batch_size=$1 > "$T/peak$1.log" 2>&1 || { tail -5 "$T/peak$1.log" >&2; echo 0; return; }
	q "$T/out/tickervisor.db" "SELECT max(peak_vram) FROM attempts"
}
hi=$(peak $B)
lo=$(peak $((B / 2)))
echo "# supervisor-measured device peak: batch $B: $hi bytes, batch $((B / 2)): $lo bytes"
if [ "${hi:-0}" -le 0 ] || [ "${lo:-0}" -le 0 ] || [ "$hi" -le "$((lo + lo / 20))" ]; then
	echo "FAIL - device peaks do not separate by batch size"
	echo "0 passed, 1 failed"
	exit 1
fi
budget=$(( (hi + lo) / 2 ))
rm -rf "$T/out"
"$S" run "$T/run.ini" --set budget.vram=$budget > "$T/run.log" 2>&1
rc=$?
rows=$(q "$T/out/tickervisor.db" "SELECT batch_size, exit_kind FROM attempts ORDER BY id")
fit=$(q "$T/out/tickervisor.db" "SELECT state, batch_size, fit_batch_size FROM jobs")
echo "# budget.vram $budget: attempts: $(echo $rows); job: $fit"
if [ $rc -eq 0 ] && [ "$(echo $rows)" = "$B|over-budget $((B / 2))|done" ] && [ "$fit" = "done|$((B / 2))|$((B / 2))" ]; then
	echo "ok - one halving on budget.vram"
	echo "1 passed, 0 failed"
	exit 0
fi
tail -20 "$T/run.log"
echo "FAIL - expected one over-budget attempt at $B and done at $((B / 2))"
echo "0 passed, 1 failed"
exit 1
