#!/usr/bin/env bash
# Worker benchmarks on one core: peak RSS of a whole ticker at the users'
# three presets (and at half their batch size), and the wall time of the
# users' full config (5 chunks x 100 episodes x 400 days) extrapolated from
# measured episodes. Usage: bench/worker.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
W=$B/worker/tickervisor-worker
D=examples/data/MSFT.csv     # 2330 usable days: 1631 train, 699 test
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(date -u +%F)"
echo
echo "## Peak RSS per ticker ($D, 2 episodes per chunk, 1 BLAS thread)"
printf '%-22s %10s %10s %12s %10s\n' preset "peak RSS" replay activations weights
for preset in 128/50000/400 64/50000/400 256/100000/500 128/100000/500 512/200000/800 256/200000/800; do
	IFS=/ read -r bs buf cl <<<"$preset"
	"$W" --config /dev/null --set rewts.batch_size=$bs --set rewts.buffer_size=$buf \
		--set rewts.chunk_length=$cl --set rewts.episodes_per_chunk=2 \
		--ticker MSFT --data $D --out "$T/o" 2>"$T/log"
	line=$(grep 'peak RSS' "$T/log")
	rss=$(sed -E 's/.*peak RSS ([0-9.]+) MiB.*/\1/' <<<"$line")
	rep=$(sed -E 's/.*replay ([0-9.]+) MiB.*/\1/' <<<"$line")
	act=$(sed -E 's/.*activations ([0-9.]+) MiB.*/\1/' <<<"$line")
	wts=$(sed -E 's/.*optimizer ([0-9.]+) MiB.*/\1/' <<<"$line")
	printf '%-22s %8s MiB %6s MiB %8s MiB %6s MiB\n' "$preset" "$rss" "$rep" "$act" "$wts"
done
echo
echo "## Wall time, users' full config (11-256-256-128-3, batch 128, buffer 50000, chunk 400)"
EP=${EPISODES:-3}
# CPU time (user + sys) as well as wall time: on a shared machine the wall
# clock also counts time spent waiting for a core.
start=$(date +%s.%N)
/usr/bin/time -f 'cpu %U %S' -o "$T/cpu" "$W" --config /dev/null --set rewts.episodes_per_chunk=$EP \
	--set rewts.chunk_length=400 --ticker MSFT --data $D --out "$T/t" 2>"$T/tlog"
end=$(date +%s.%N)
cpu=$(awk '{print $2 + $3}' "$T/cpu")
chunks=$(grep -o '[0-9]* chunks' "$T/tlog" | head -1 | cut -d' ' -f1)
python3 - "$start" "$end" "$chunks" "$EP" "$cpu" <<'PY'
import sys
start, end, chunks, ep, cpu = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
print("wall %.2f s, cpu %.2f s; extrapolating from the smaller" % (end - start, cpu))
wall = min(end - start, cpu)
per_episode = wall / (chunks * ep)          # includes data load + backtest: a slight overestimate
# The first batch_size - 1 steps of a chunk take no gradient step: scale by
# gradient steps, not by episodes, so the short run does not flatter.
steps_measured = chunks * (ep * 399 - 127)
steps_full = 5 * (100 * 399 - 127)
full = wall * steps_full / steps_measured
print("measured: %d chunks x %d episodes in %.2f s = %.3f s per 400-day episode (%.3f ms per env step)"
      % (chunks, ep, wall, per_episode, per_episode / 399 * 1e3))
print("extrapolated whole ticker, 5 chunks x 100 episodes: %.0f s = %.1f min (target <= 6 min; Python original ~12.5 min)"
      % (full, full / 60))
PY
