#!/usr/bin/env bash
# Run HERE (the build machine) before a device run: builds, then copies the
# binaries the GPU checks use (same layout as the build tree) into
# .devcarry/build-gpu and the shared libraries a bare GPU machine lacks into
# .devcarry/lib. Then, on the device: tests/gpu/run.sh (carry .devcarry).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
ninja -C "$B"
rm -rf .devcarry/build-gpu .devcarry/lib
mkdir -p .devcarry/build-gpu .devcarry/lib
for f in worker/tickervisor-worker worker/gpu/libtickervisor-gpu.so supervisor/tickervisor \
	 tests/gpu/test_gpu_dqn tests/test_gpu_lstm bench/gpu/bench_gpu_step; do
	mkdir -p ".devcarry/build-gpu/$(dirname "$f")"
	cp "$B/$f" ".devcarry/build-gpu/$f"
done
for l in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libmsgpackc.so.2 libuv.so.1 libsqlite3.so.0; do
	cp -L "$(ldconfig -p | awk -v l="$l" '$1 == l { print $NF; exit }')" .devcarry/lib/
done
du -sh .devcarry/build-gpu .devcarry/lib
