#!/bin/sh
# gap.sh SUP WORKER: longest gap between log lines while a BEGIN EXCLUSIVE is held 12 s
# (issue 13) Prints the exit status, the longest gap between two supervisor log
# lines while another program holds the write lock, and how many tickers finished.
SUP=$1; export TV_WORKER=$2; D=/work/wt/state/examples/data
rm -rf out; cat > run.ini <<INI
[run]
data_dir = $D
out_dir = out
parallel = 2
checkpoint_every = 1
heartbeat = 0.2
[rewts]
hidden = 16,16
batch_size = 32
buffer_size = 2000
chunk_length = 60
episodes_per_chunk = 4
lookback_length = 20
INI
TV_FAULT_SLOW_MS=30 $SUP run run.ini --set run.tickers=GOOG,AAPL,MSFT > run.out 2>&1 &
sup=$!
while [ "$(sqlite3 out/tickervisor.db "select count(*) from jobs where state='running' and done_episodes>=1" 2>/dev/null)" != 1 ] && [ "$(sqlite3 out/tickervisor.db "select count(*) from jobs where state='running' and done_episodes>=1" 2>/dev/null)" != 2 ]; do sleep 0.1; done
{ echo ".timeout 5000"; echo "BEGIN EXCLUSIVE;"; sleep 12; echo "COMMIT;"; } | sqlite3 out/tickervisor.db
wait $sup; rc=$?
gap=$(grep '^20[0-9-]*T' run.out | cut -c12-23 | awk -F: '{ t = $1 * 3600 + $2 * 60 + $3; if (NR > 1 && t - p > g) g = t - p; p = t } END { printf "%.2f", g }')
echo "exit $rc, longest gap between log lines $gap s, done $(sqlite3 out/tickervisor.db "select count(*) from jobs where state='done'")/3"
