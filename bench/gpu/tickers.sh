#!/usr/bin/env bash
# GPU throughput of whole tickers (run on a machine with an NVIDIA GPU):
#  1. one ticker at the users' full config (11-256-256-128-3, batch 128,
#     buffer 50000, 5 chunks x 100 episodes x 400 days; MSFT with
#     test_fraction 0.1 gives exactly 5 chunks), chunks one at a time and
#     all 5 at once (run.chunks_at_once);
#  2. aggregate tickers per hour through the supervisor with 1, 2, 4 and 8
#     workers on the one GPU (EPISODES per chunk, default 20, scaled to 100).
# Usage: bench/gpu/tickers.sh BUILD_DIR
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${1:?build dir}
W=$B/worker/tickervisor-worker
S=$B/supervisor/tickervisor
EP=${EPISODES:-20}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
D=examples/data/MSFT.csv
now() { date +%s.%N; }
echo "== whole ticker, users' full config, on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
for k in ${WAVES:-1 5}; do
	t0=$(now)
	"$W" --config /dev/null --set run.device=cuda --set backtest.test_fraction=0.1 \
		--set run.chunks_at_once=$k --ticker MSFT --data $D --out "$T/full$k" 2>"$T/full$k.log"
	rc=$?
	t1=$(now)
	printf 'chunks_at_once=%d: rc %d, %.1f s  (%s)\n' $k $rc "$(python3 -c "print($t1 - $t0)")" \
		"$(grep -o '[0-9]* chunks x [0-9]* episodes' "$T/full$k.log" | head -1)"
	grep 'test .* days' "$T/full$k.log" | sed 's/^/    /'
done
[ -s "$T/full1/MSFT.model" ] && [ -s "$T/full5/MSFT.model" ] &&
	{ cmp -s "$T/full1/MSFT.model" "$T/full5/MSFT.model" && echo "    models identical across wave sizes" ||
	  echo "    models differ across wave sizes (GPU float order)"; }

echo "== tickers per hour, one GPU, $EP episodes per chunk (x$((100 / EP)) = full config)"
mkdir -p "$T/data"
for i in $(seq 1 16); do cp $D "$T/data/T$i.csv"; done
for n in ${WORKERS:-1 2 4 8}; do
	tickers=$((n * 2))
	[ $tickers -lt 4 ] && tickers=4
	list=$(seq -s, -f 'T%g' 1 $tickers)
	cat > "$T/run$n.ini" <<INI
[run]
data_dir = $T/data
tickers = $list
out_dir = $T/out$n
parallel = $n
gpus = auto
workers_per_gpu = $n
device = cuda
[rewts]
episodes_per_chunk = $EP
[backtest]
test_fraction = 0.1
INI
	t0=$(now)
	"$S" run "$T/run$n.ini" > "$T/run$n.log" 2>&1
	rc=$?
	t1=$(now)
	python3 - "$n" "$tickers" "$t0" "$t1" "$rc" "$EP" <<'PY'
import sys
n, k, t0, t1, rc, ep = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
wall = t1 - t0
full = wall * 100 / ep
print("workers %d: %d tickers in %.1f s (rc %d) -> %.0f full tickers/hour (%.1f s per full ticker per worker)"
      % (n, k, wall, rc, k / full * 3600, full / k * n))
PY
	[ $rc -eq 0 ] || tail -5 "$T/run$n.log"
done
exit 0
