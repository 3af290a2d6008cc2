#!/usr/bin/env bash
# Runs the GPU tests and benchmarks on a machine with an NVIDIA GPU, within
# a time budget (default 400 s; TV_GPU_BUDGET_S), and prints a short table
# last. From the repository root:
#
#   tests/gpu/run.sh [BUILD_DIR]
#
# BUILD_DIR is a meson build of this project (tests/gpu/test_gpu_dqn,
# bench/gpu/bench_gpu_step); default .devcarry/build-gpu, a build made on
# another machine and carried here. Shared libraries the target lacks
# (OpenBLAS, libgfortran...) may be carried in .devcarry/lib. cuBLAS and
# cudart are taken from the system, /usr/local/cuda, or Python's nvidia
# packages (the ones PyTorch uses). Without a build it compiles the bench
# alone with nvcc (the test needs the CPU reference and OpenBLAS).
# Each stage's log is kept in $TV_GPU_LOGDIR (default /tmp/tv-gpu-logs).
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${1:-$ROOT/.devcarry/build-gpu}
LOGDIR=${TV_GPU_LOGDIR:-/tmp/tv-gpu-logs}
mkdir -p "$LOGDIR"
BUDGET=${TV_GPU_BUDGET_S:-380}
START=$(date +%s)
DEADLINE=$((START + BUDGET))
SUMMARY=$LOGDIR/summary.txt
: > "$SUMMARY"

# --- libraries -------------------------------------------------------------
LIBS=""
[ -d "$ROOT/.devcarry/lib" ] && LIBS="$ROOT/.devcarry/lib"
if ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so\.13' || ! ldconfig -p 2>/dev/null | grep -q 'libcudnn\.so\.9'; then
	for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do
		[ -e "$d/libcublas.so.13" ] && LIBS="$LIBS:$d"
	done
	NV=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__file__))' 2>/dev/null ||
	     python3 -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null)
	if [ -n "$NV" ]; then
		for f in $(find "$NV" -name 'libcublas.so.13' -o -name 'libcudart.so.13' \
			   -o -name 'libcublasLt.so.13' -o -name 'libcudnn.so.9' 2>/dev/null); do
			LIBS="$LIBS:$(dirname "$f")"
		done
	fi
fi
export LD_LIBRARY_PATH="${LIBS#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OPENBLAS_NUM_THREADS=1 PYTHONUNBUFFERED=1

echo "== $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
echo "== build $BUILD; LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

TEST=$BUILD/tests/gpu/test_gpu_dqn
BENCH=$BUILD/bench/gpu/bench_gpu_step
for x in "$TEST" "$BENCH"; do
	[ -x "$x" ] && ldd "$x" | grep 'not found' | sed "s|^|== $(basename "$x") lacks |"
done
if [ ! -x "$BENCH" ] && command -v nvcc >/dev/null; then
	echo "== no build: compiling the bench with nvcc"
	B=$LOGDIR/nvcc-build
	mkdir -p "$B"
	nvcc -O2 -gencode=arch=compute_90,code=sm_90 -I"$ROOT" -I"$ROOT/worker" \
		-I"$ROOT/worker/gpu" -x cu "$ROOT/worker/gpu/dqn_cuda.cu" -x c \
		"$ROOT/common/rng.c" "$ROOT/bench/gpu/bench_gpu_step.c" -lcublas \
		-o "$B/bench_gpu_step" && BENCH=$B/bench_gpu_step
fi

# stage NAME TIMEOUT CMD...: runs CMD with its output in $LOGDIR/NAME.log,
# cut to the time left; records name, exit status and seconds.
stage() {
	local name=$1 limit=$2 left t0 rc
	shift 2
	left=$((DEADLINE - $(date +%s) - 5))
	[ "$limit" -gt "$left" ] && limit=$left
	if [ "$limit" -lt 15 ]; then
		echo "== $name: skipped (time budget)"
		echo "$name skipped 0" >> "$SUMMARY"
		return
	fi
	echo "== $name (limit ${limit}s): $*"
	t0=$(date +%s)
	timeout -k 5 "$limit" "$@" > "$LOGDIR/$name.log" 2>&1
	rc=$?
	cat "$LOGDIR/$name.log"
	echo "$name $rc $(( $(date +%s) - t0 ))" >> "$SUMMARY"
}

# Correctness first, then benchmarks: stages past the budget are skipped.
export TV_WORKER=$BUILD/worker/tickervisor-worker TV_SUPERVISOR=$BUILD/supervisor/tickervisor
export TV_SOURCE_ROOT=$ROOT TV_GPU_MODULE=$BUILD/worker/gpu/libtickervisor-gpu.so
[ -x "$TEST" ] && stage test_gpu_dqn 60 "$TEST"
[ -x "$BUILD/tests/test_gpu_lstm" ] && stage test_gpu_lstm 60 "$BUILD/tests/test_gpu_lstm"
[ -x "$TV_WORKER" ] && stage worker_gpu 120 bash tests/gpu/worker_gpu.sh
[ -x "$TV_WORKER" ] && stage lstm_gpu 60 bash -c '
	W=$TV_WORKER; D=examples/data/AAPL.csv; O=$(mktemp -d)
	for dev in cuda cpu; do
		s=$(date +%s.%N)
		"$W" --config /dev/null --set run.model=lstm --set run.device=$dev --ticker AAPL --data $D --out $O/$dev 2>$O/$dev.log
		echo "lstm $dev: rc $? in $(python3 -c "import time; print(round(time.time() - $s, 1))") s: $(grep -o "cuda on [^,]*\|cpu on cpu" $O/$dev.log | head -1); $(grep "test .* days" $O/$dev.log | sed "s/.*days: //")"
	done
	"$W" --evaluate $O/cuda/AAPL.model --data $D >/dev/null && echo "lstm: GPU model evaluates on the CPU to its stored metrics"'
[ -x "$TV_SUPERVISOR" ] && stage sup_vram 100 bash tests/gpu/sup_vram.sh
[ -x "$BENCH" ] && stage bench_gpu_step 60 "$BENCH" 2000
stage torch_eager 70 python3 bench/gpu/torch_step.py --mode eager --steps 1000
[ -x "$TV_SUPERVISOR" ] && stage tickers 200 env EPISODES=10 bash bench/gpu/tickers.sh "$BUILD"

echo
echo "== summary ($(( $(date +%s) - START )) s)"
python3 - "$LOGDIR" <<'EOF'
import os, re, sys
d = sys.argv[1]
rows = [l.split() for l in open(os.path.join(d, "summary.txt")) if l.strip()]
print(f"{'stage':18s} {'exit':>5s} {'s':>4s}")
for name, rc, s in rows:
    print(f"{name:18s} {rc:>5s} {s:>4s}")
def grab(name, pat):
    p = os.path.join(d, name + ".log")
    out = {}
    if os.path.exists(p):
        for l in open(p):
            m = re.search(pat, l)
            if m:
                out[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    return out
ours = grab("bench_gpu_step", r"^batch\s+(\d+): step\+sync median\s+([\d.]+).*pipelined\s+([\d.]+)")
tor = {m: grab("torch_" + m, r"batch\s+(\d+): step\+sync median\s+([\d.]+).*pipelined\s+([\d.]+)")
       for m in ("eager", "eager_fused", "compile_ro")}
serial = grab("bench_serial", r"^batch\s+(\d+): step\+sync median\s+([\d.]+).*pipelined\s+([\d.]+)")
print()
print("us per DDQN step, 11-256-256-128-3 FP32 (median with sync / pipelined mean)")
print(f"{'batch':>5s} {'ours':>15s} {'ours serial':>15s} {'torch eager':>15s} {'eager fused':>15s} {'compile-ro':>15s} {'eager/ours':>10s}")
def cell(x):
    return f"{x[0]:7.1f}/{x[1]:7.1f}" if x else f"{'-':>15s}"
for b in sorted(ours):
    o = ours[b]
    e = tor["eager"].get(b)
    ratio = f"{e[0] / o[0]:9.1f}x" if e else "-"
    print(f"{b:5d} {cell(o)} {cell(serial.get(b))} {cell(e)} {cell(tor['eager_fused'].get(b))} "
          f"{cell(tor['compile_ro'].get(b))} {ratio:>10s}")
for name in ("worker_gpu", "sup_vram", "test_gpu_lstm", "lstm_gpu", "tickers"):
    p = os.path.join(d, name + ".log")
    if os.path.exists(p):
        keep = [l.rstrip() for l in open(p) if l.startswith(("ok", "FAIL", "#", "lstm", "chunks_at_once", "workers", "    ", "relative", "reserve"))]
        print(f"-- {name}:"); print("\n".join(keep[-14:]))
test = os.path.join(d, "test_gpu_dqn.log")
if os.path.exists(test):
    lines = [l.rstrip() for l in open(test)]
    bad = [l for l in lines if "FAIL" in l]
    last = lines[-1] if lines else "(no output)"
    print(f"test_gpu_dqn: {last}" + (f"; {len(bad)} failing line(s)" if bad else ""))
EOF
