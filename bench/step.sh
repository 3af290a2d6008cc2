#!/bin/sh
# One Double-DQN gradient step at 11-256-256-128-3, ours (bench_step, C on
# OpenBLAS) against PyTorch (bench_step.py), single-threaded, same batch
# sizes; prints the raw lines, then a table with torch_time / our_time.
#
# Usage: bench/step.sh [BUILD_DIR] [REPS]
#   BUILD_DIR  a meson build of this tree with bench/bench_step built
#              (default: ./build); REPS for batch 128 (default 2000; larger
#              batches get proportionally fewer, PyTorch a quarter as many).
# OPENBLAS_CORETYPE, if set, applies to both (bench_step prints the hint
# of nn_blas_coretype_hint(), e.g. SkylakeX on AVX-512 CPUs that Debian 12's
# OpenBLAS does not recognise).
# On a shared machine compare the cpu columns (thread CPU time); the wall
# columns count time the benchmark was not running. Load is printed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
reps=${2:-2000}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(lscpu | sed -n 's/^Model name: *//p')," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
c_out=$("$build/bench/bench_step" "$reps")
py_out=$(/usr/bin/python3 "$here/bench_step.py" "$((reps / 4))")
echo "$c_out"
echo "$py_out"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n%s\n' "$c_out" "$py_out" | awk '
function val(key,   i, kv) {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] }
	return ""
}
# Peak: the better of the 1024 and 2048 runs (medians), so that a burst of
# load during one of them does not inflate the step percentage.
$1 == "peak" { w = val("median_gflops") + 0; c = val("cpu_gflops") + 0
               if (w > peak) peak = w
               if (c > peakc) peakc = c }
$1 == "step" { b = val("batch"); order[++n] = b; ours[b] = val("median_us"); oursc[b] = val("median_cpu_us") }
$1 == "torch" { b = val("batch"); th[b] = val("median_us"); thc[b] = val("median_cpu_us") }
END {
	flops_row = 1009408
	printf "\nsgemm peak (1024/2048 square), 1 thread: %.1f GFLOP/s wall, %.1f GFLOP/s cpu\n", peak, peakc
	printf "%6s %10s %10s %8s %12s %12s %8s %8s %8s\n", "batch", "ours_us", "torch_us", "ratio",
	       "ours_cpu_us", "torch_cpu_us", "ratio", "GFLOP/s", "%peak"
	for (i = 1; i <= n; i++) {
		b = order[i]
		g = b * flops_row / (oursc[b] * 1e3)
		printf "%6d %10.1f %10.1f %8.2f %12.1f %12.1f %8.2f %8.1f %7.0f%%\n", b, ours[b], th[b],
		       th[b] / ours[b], oursc[b], thc[b], thc[b] / oursc[b], g, 100 * g / peakc
	}
}'
