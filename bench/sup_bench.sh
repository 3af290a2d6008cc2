#!/bin/bash
# Supervisor benchmarks (results in bench/RESULTS.md, "## Supervisor"):
#   1. supervisor RSS with 10,000 tickers queued (target <= 16 MiB)
#   2. spawn-to-first-frame latency (target <= 20 ms)
#   3. budget breach to SIGKILL (target <= 2 x poll_ms)
#   4. scheduling throughput with trivial jobs (target >= 200 jobs/s)
#   5. database size per ticker
# A "trivial job" is tests/sup_fake_worker: hello + heartbeat + result,
# exit 0 (no training). Latency and database size are also measured with
# the real tickervisor-worker on a tiny configuration.
#
# Usage: bench/sup_bench.sh BUILD_DIR [WORK_DIR]
# WORK_DIR (default: a mktemp -d under /tmp) holds the databases; its file
# system decides what an fsync costs, so the script prints it.
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR [WORK_DIR]}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
SUP=$BUILD/supervisor/tickervisor
FAKE=$BUILD/tests/sup_fake_worker
REAL=$BUILD/worker/tickervisor-worker
W=${2:-$(mktemp -d /tmp/tv-supbench.XXXXXX)}
mkdir -p "$W"
N_QUEUE=${N_QUEUE:-10000}
N_TPUT=${N_TPUT:-2000}
N_LAT=${N_LAT:-300}
N_BREACH=${N_BREACH:-20}

echo "machine: $(uname -sr), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  work dir: $W ($(df -T "$W" | awk 'NR==2 {print $2}'))"

# mkdata DIR N: N <TICKER>.csv files holding only the header (the fake
# worker reads nothing; the run checks each file's header at start).
mkdata() {
	mkdir -p "$1"
	python3 - "$1" "$2" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "T%05d.csv" % i), "w") as f:
        f.write("date,open,high,low,close,volume\n")
EOF
}

# config FILE DATA_DIR PARALLEL [EXTRA...]
config() {
	f=$1 data=$2 par=$3
	shift 3
	{
		printf '[run]\ndata_dir = %s\nout_dir = out\nparallel = %s\nbackoff = 0\nhang_timeout = 600\n' "$data" "$par"
		printf '[rewts]\nbatch_size = 8\nmin_batch_size = 8\nbuffer_size = 100\n'
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$f"
}

# ---- 1. RSS with N_QUEUE tickers queued ----
d=$W/queue
mkdata "$d/data" "$N_QUEUE"
config "$d/run.ini" "$d/data" 2
t0=$(date +%s.%N)
FAKE_EPISODES=100000 FAKE_SLEEP_MS=100 TV_WORKER=$FAKE "$SUP" run "$d/run.ini" >"$d/log" 2>&1 &
pid=$!
until [ "$(grep -c ' started ' "$d/log" || true)" -ge 2 ]; do sleep 0.05; done
t1=$(date +%s.%N)
sleep 3
rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)
anon=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status)
kill -INT $pid
wait $pid || true
echo
echo "1. queue of $N_QUEUE tickers (parallel 2, workers running): supervisor VmRSS $((rss / 1024)).$(( (rss % 1024) * 10 / 1024 )) MiB" \
	"(RssAnon $((anon / 1024)).$(( (anon % 1024) * 10 / 1024 )) MiB, VmHWM $((hwm / 1024)).$(( (hwm % 1024) * 10 / 1024 )) MiB);" \
	"start to first two workers running: $(echo "$t1 - $t0" | bc) s"

# ---- 2. spawn to first frame ----
lat() {
	python3 - "$1" <<'EOF'
import re, statistics, sys
v = [float(m.group(1)) for m in re.finditer(r"hello .* after ([0-9.]+) ms", open(sys.argv[1]).read())]
v.sort()
p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
print("n %d  median %.2f ms  p95 %.2f ms  max %.2f ms" % (len(v), statistics.median(v), p(0.95), v[-1]))
EOF
}
d=$W/latency
mkdata "$d/data" "$N_LAT"
config "$d/run.ini" "$d/data" 1
TV_WORKER=$FAKE "$SUP" run "$d/run.ini" >"$d/log" 2>&1
echo "2. spawn to hello, fake worker (parallel 1): $(lat "$d/log")"
d=$W/latency-real
mkdir -p "$d"
config "$d/run.ini" "$SRC/examples/data" 1 "hidden = 16,16" "chunk_length = 60" "episodes_per_chunk = 1" "lookback_length = 20"
TV_WORKER=$REAL "$SUP" run "$d/run.ini" >"$d/log" 2>&1 || true
echo "   spawn to hello, real worker (parallel 1, $(ls "$SRC"/examples/data/*.csv | wc -l) tickers): $(lat "$d/log")"

# ---- 3. budget breach to SIGKILL ----
d=$W/breach
mkdata "$d/data" "$N_BREACH"
config "$d/run.ini" "$d/data" 2 "[budget]" "rss = 32MiB" "poll_ms = 100"
FAKE_ALLOC_MB=64 FAKE_MARK_BYTES=$((32 * 1024 * 1024)) FAKE_ALLOC_DELAY_MS=150 FAKE_HOLD_MS=5000 \
	TV_WORKER=$FAKE "$SUP" run "$d/run.ini" >"$d/log" 2>&1 || true
python3 - "$d" <<'EOF'
import glob, os, re, statistics, sys, time, datetime
d = sys.argv[1]
kills = {}
for line in open(os.path.join(d, "log")):
    m = re.match(r"(\S+) (T\d+) attempt \d+ pid \d+ rss .* over budget.rss", line)
    if m:
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
        kills[m.group(2)] = t
lags = []
marks = {}
for l in open(os.path.join(d, "out", "workers.log")):
    if l.startswith("mark "):
        _, tk, t = l.split()
        marks.setdefault(tk, float(t))
for tk, t in marks.items():
    if tk in kills:
        lags.append((kills[tk] - t) * 1000)
lags.sort()
print("3. budget breach -> SIGKILL (poll_ms 100): n %d  median %.1f ms  max %.1f ms  (target <= 200 ms)"
      % (len(lags), statistics.median(lags), lags[-1]))
EOF

# ---- 4. throughput, 5. database size ----
d=$W/tput
mkdata "$d/data" "$N_TPUT"
for par in 2 4; do
	rm -rf "$d/out"
	config "$d/run.ini" "$d/data" $par
	t0=$(date +%s.%N)
	TV_WORKER=$FAKE "$SUP" run "$d/run.ini" >"$d/log" 2>&1
	t1=$(date +%s.%N)
	done_jobs=$(sqlite3 "$d/out/tickervisor.db" "select count(*) from jobs where state='done'")
	echo "4. $done_jobs trivial jobs, parallel $par: $(echo "$t1 - $t0" | bc) s wall," \
		"$(echo "scale=1; $done_jobs / ($t1 - $t0)" | bc) jobs/s (start, load, all jobs, exit)"
done
sz=$(stat -c %s "$d/out/tickervisor.db")
echo "5. database: $((sz / 1024)) KiB for $N_TPUT trivial jobs = $((sz / N_TPUT)) bytes per ticker"
d=$W/latency-real
db=$d/out/tickervisor.db
n=$(sqlite3 "$db" "select count(*) from jobs")
sz=$(stat -c %s "$db")
echo "   real worker, tiny config: $((sz / 1024)) KiB for $n tickers = $((sz / n / 1024)) KiB per ticker" \
	"($(sqlite3 "$db" "select count(*) from mem_samples") memory samples," \
	"$(sqlite3 "$db" "select count(*) from loss_samples") loss samples," \
	"$(sqlite3 "$db" "select count(*) from checkpoints") checkpoints)"
[ -n "${2:-}" ] || rm -rf "$W"
