#!/bin/bash
# What admission by available memory (issue 12) costs the scheduler: the
# same N trivial jobs (tests/sup_fake_worker) at parallel 2, alternated
# ROUNDS times between no budget (admission off: nothing to hold) and
# budget.rss = 1GiB (admission reads MemAvailable and the cgroup before
# every start). Prints jobs/s per run and the ratio. Results in
# bench/RESULTS.md, "## Memory admission (issue 12)".
# Usage: bench/mem_admission.sh BUILD_DIR [N] [ROUNDS]
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR [N] [ROUNDS]}" && pwd)
N=${2:-500}
ROUNDS=${3:-3}
W=$(mktemp -d /tmp/tv-membench.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/data"
for i in $(seq -w 1 "$N"); do : >"$W/data/T$i.csv"; done
printf '[run]\ndata_dir = %s\nout_dir = out\nparallel = 2\nbackoff = 0\n[rewts]\nbatch_size = 8\nmin_batch_size = 8\nbuffer_size = 100\n' \
	"$W/data" >"$W/run.ini"
echo "machine: $(uname -sr), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)"
run() {
	rm -rf "$W/out"
	t0=$(date +%s.%N)
	TV_WORKER=$BUILD/tests/sup_fake_worker "$BUILD/supervisor/tickervisor" run "$W/run.ini" \
		--set "budget.rss=$1" >"$W/log" 2>&1
	t1=$(date +%s.%N)
	echo "scale=1; $N / ($t1 - $t0)" | bc
}
off=0 on=0
for r in $(seq 1 "$ROUNDS"); do
	a=$(run 0)
	b=$(run 1GiB)
	echo "round $r: no budget $a jobs/s, budget.rss 1GiB (admission on) $b jobs/s"
	off=$(echo "$off + $a" | bc)
	on=$(echo "$on + $b" | bc)
done
echo "mean: no budget $(echo "scale=1; $off / $ROUNDS" | bc) jobs/s, admission on $(echo "scale=1; $on / $ROUNDS" | bc) jobs/s, ratio $(echo "scale=3; $on / $off" | bc)"
