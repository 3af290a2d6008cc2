#!/usr/bin/env bash
# End to end for model = lstm: the real tickervisor-worker on the bundled
# sample data with small sizes. Trains and writes a model, same seed =>
# same bytes, a fault-injected crash (inside a chunk and right at a chunk's
# end) and a SIGTERM, each resumed to the same bytes as the uninterrupted
# run, early stopping, --evaluate, and the model file read from Python.
set -u
W=${TV_WORKER:?}
SRC=${TV_SOURCE_ROOT:?}
D=$SRC/examples/data/AAPL.csv
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
pass=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fails=$((fails + 1)); echo "FAIL - $1"; }

# 1060 usable days: 742 training days = 2 chunks of 300, 318 test days.
cat > "$T/t.ini" <<'INI'
[run]
seed = 7
model = lstm
device = cpu
checkpoint_every = 2
[rewts]
batch_size = 32
chunk_length = 300
lookback_length = 60
lstm_hidden = 16
lstm_layers = 2
lstm_window = 20
lstm_epochs = 6
lstm_patience = 0
INI
train() { "$W" --config "$T/t.ini" --ticker AAPL --data "$D" "$@"; }

train --out "$T/a" 2>"$T/a.log"; rc=$?
[ $rc -eq 0 ] && [ -s "$T/a/AAPL.model" ] && ok "model = lstm trains and writes a model" || bad "train rc=$rc: $(tail -3 "$T/a.log")"
# A chunk's last epoch is reported in that chunk (1-based in the log).
grep -q 'chunk 1 episode 6 (6/12)' "$T/a.log" && grep -q 'chunk 2 episode 6 (12/12)' "$T/a.log" &&
	ok "a chunk's last epoch is reported in its chunk" || bad "last epochs: $(grep 'episode 6 ' "$T/a.log")"
grep -q '2 chunks x 6 episodes' "$T/a.log" && grep -q '(12/12)' "$T/a.log" &&
	ok "progress counts epochs as episodes (12 of 12)" || bad "progress lines: $(head -3 "$T/a.log")"
grep -q 'test [0-9]* days: return' "$T/a.log" && ok "prints the backtest" || bad "no backtest line"

train --out "$T/b" 2>/dev/null
cmp -s "$T/a/AAPL.model" "$T/b/AAPL.model" && ok "same seed, same bytes" || bad "two runs with one seed differ"
train --out "$T/s" --set run.seed=8 2>/dev/null
cmp -s "$T/a/AAPL.model" "$T/s/AAPL.model" && bad "another seed gives the same model" || ok "another seed, another model"

# Crash inside chunk 1 (after epoch 3; the last checkpoint is epoch 2).
TV_FAULT_CRASH_AT=3 train --out "$T/c" 2>/dev/null; rc=$?
[ $rc -ne 0 ] && [ ! -e "$T/c/AAPL.model" ] && [ -s "$T/c/AAPL.ckpt" ] && ok "crash injected at epoch 3 (rc $rc)" || bad "crash injection rc=$rc"
train --out "$T/c" --resume "$T/c/AAPL.ckpt" 2>"$T/c.log"; rc=$?
head -2 "$T/c.log" | grep -q '(3/12)' && ok "resume continues after epoch 2's checkpoint" || bad "resume did not continue from the checkpoint: $(head -2 "$T/c.log")"
[ $rc -eq 0 ] && cmp -s "$T/a/AAPL.model" "$T/c/AAPL.model" && ok "crash + resume gives identical bytes" || bad "crash + resume differs (rc $rc)"

# Crash right after chunk 1's end (epoch 6, checkpointed between chunks).
TV_FAULT_CRASH_AT=6 train --out "$T/c6" 2>/dev/null
train --out "$T/c6" --resume "$T/c6/AAPL.ckpt" 2>"$T/c6.log"; rc=$?
head -2 "$T/c6.log" | grep -q 'chunk 2 episode 1 (7/12)' && [ $rc -eq 0 ] && cmp -s "$T/a/AAPL.model" "$T/c6/AAPL.model" &&
	ok "crash at a chunk boundary + resume gives identical bytes" || bad "chunk-boundary resume (rc $rc): $(head -2 "$T/c6.log")"

TV_FAULT_SLOW_MS=150 "$W" --config "$T/t.ini" --ticker AAPL --data "$D" --out "$T/d" 2>/dev/null & pid=$!
for _ in $(seq 100); do [ -e "$T/d/AAPL.ckpt" ] && break; sleep 0.05; done
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 10 ] && ok "SIGTERM exits 10 (interrupted) after a checkpoint" || bad "SIGTERM rc=$rc"
train --out "$T/d" --resume "$T/d/AAPL.ckpt" 2>/dev/null; rc=$?
[ $rc -eq 0 ] && cmp -s "$T/a/AAPL.model" "$T/d/AAPL.model" && ok "SIGTERM + resume gives identical bytes" || bad "SIGTERM + resume differs (rc $rc)"

# A checkpoint of another LSTM shape is refused, naming the key.
train --out "$T/f" --resume "$T/a/AAPL.ckpt" --set rewts.lstm_hidden=8 2>"$T/f.log"; rc=$?
[ $rc -eq 12 ] && grep -q "lstm_hidden" "$T/f.log" && ok "checkpoint of another shape refused" || bad "shape mismatch rc=$rc: $(cat "$T/f.log")"

# A chunk must hold at least 4 windows: chunk_length 300 takes
# lstm_window 296 (4 windows), not 297 (3), which is bad input naming both keys.
train --out "$T/w7" --set rewts.lstm_window=297 2>"$T/w7.log"; rc=$?
[ $rc -eq 12 ] && grep -q "leaves 3 windows of rewts.lstm_window=297 .*chunk_length >= lstm_window + 4" "$T/w7.log" &&
	[ ! -e "$T/w7/AAPL.model" ] && ok "a chunk of 3 windows is refused (rc 12, keys named)" ||
	bad "lstm_window 297 of chunk 300: rc $rc: $(cat "$T/w7.log")"
train --out "$T/w6" --set rewts.lstm_window=296 --set rewts.lstm_epochs=1 2>"$T/w6.log"; rc=$?
[ $rc -eq 0 ] && [ -s "$T/w6/AAPL.model" ] && ok "a chunk of exactly 4 windows trains" ||
	bad "lstm_window 296 of chunk 300: rc $rc: $(tail -2 "$T/w6.log")"

out=$("$W" --evaluate "$T/a/AAPL.model" --data "$D" 2>"$T/e.log"); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q '"sharpe"' && ok "--evaluate reproduces the stored metrics" || bad "--evaluate rc=$rc: $(cat "$T/e.log")"

# Early stopping: a high learning rate overfits quickly; with patience 2
# a chunk stops before 40 epochs and progress jumps to the chunk's end.
train --out "$T/es" --set rewts.lstm_epochs=40 --set rewts.lstm_patience=2 \
	--set rewts.lstm_learning_rate=0.02 2>"$T/es.log"; rc=$?
n=$(grep -c ' episode [0-9]* (' "$T/es.log")
[ $rc -eq 0 ] && [ "$n" -lt 80 ] && grep -q '(80/80)' "$T/es.log" && grep -q 'chunk 2 episode 1 (41/80)' "$T/es.log" &&
	ok "early stopping ends chunks early ($n of 80 epochs run)" || bad "early stopping: rc $rc, $n progress lines"

if /usr/bin/python3 -c 'import msgpack, numpy' 2>/dev/null; then
	/usr/bin/python3 - "$T/a/AAPL.model" <<'PY' && ok "model file: kind, shape, network sizes, checksum" || bad "model file contents"
import sys, zlib, msgpack, numpy as np
data = open(sys.argv[1], 'rb').read()
assert data[-5] == 0xce and zlib.crc32(data[:-5]) == int.from_bytes(data[-4:], 'big')
m = msgpack.unpackb(data)
assert m['model_kind'] == 'lstm', m['model_kind']
s = m['lstm']
F, H, L = s['input'], s['hidden'], s['layers']
assert (F, H, L, s['window']) == (10, 16, 2, 20), s
n = sum(4 * H * (F if l == 0 else H) + 4 * H * H + 8 * H for l in range(L)) + H + 1
assert len(m['networks']) == 2
for b in m['networks']:
    p = np.frombuffer(b, '<f4')
    assert p.size == n + 2 * F, (p.size, n)
    assert np.all(np.isfinite(p)) and np.all(p[n + F:] > 0)   # deviations
assert m['metrics']['test_days'] + 1 == len(m['equity']) // 8
PY
fi

# Through the supervisor: two tickers train; each checkpoint is recorded
# with its place (chunk, epoch in the chunk as the episode, epochs done),
# and the model is the one the worker writes alone.
if [ -n "${TV_SUPERVISOR:-}" ] && command -v sqlite3 >/dev/null 2>&1; then
	mkdir -p "$T/sd"
	cp "$SRC/examples/data/AAPL.csv" "$SRC/examples/data/GOOG.csv" "$T/sd/"
	sed "s|^\[run\]|[run]\ndata_dir = $T/sd\nout_dir = $T/so\ntickers = AAPL,GOOG|" "$T/t.ini" >"$T/s.ini"
	"$TV_SUPERVISOR" run "$T/s.ini" --db "$T/s.db" >"$T/s.log" 2>&1; rc=$?
	states=$(sqlite3 "$T/s.db" "select group_concat(ticker || ':' || state, ' ') from (select * from jobs order by ticker)")
	[ $rc -eq 0 ] && [ "$states" = "AAPL:done GOOG:done" ] && cmp -s "$T/a/AAPL.model" "$T/so/AAPL.model" &&
		ok "the supervisor runs the lstm kind (same model bytes)" || bad "supervisor run rc=$rc, $states: $(tail -3 "$T/s.log")"
	# Every 2 epochs of 6 per chunk, the place a resume starts from:
	# chunk (0-based), epochs done in it, epochs done in all; a chunk's
	# last epoch leaves it at the start of the next chunk.
	got=$(sqlite3 "$T/s.db" "select group_concat(c.chunk || '/' || c.episode || '/' || c.done_episodes, ' ')
		from (select c.* from checkpoints c join jobs j on j.id = c.job_id where j.ticker = 'AAPL'
		order by c.done_episodes) c")
	[ "$got" = "0/2/2 0/4/4 1/0/6 1/2/8 1/4/10 2/0/12" ] &&
		ok "checkpoints recorded at chunk/epoch/done" || bad "checkpoint rows: $got"
fi

echo "$pass passed, $fails failed"
[ $fails -eq 0 ]
