#!/usr/bin/env bash
# End to end: the real tickervisor-worker on the bundled sample data.
# Trains, checks determinism (same seed => same bytes), fault-injected
# crash + resume and SIGTERM + resume (both byte-identical to an
# uninterrupted run), --evaluate, a corrupt checkpoint, the report fd.
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

cat > "$T/t.ini" <<'INI'
[run]
seed = 7
checkpoint_every = 2
[rewts]
batch_size = 32
buffer_size = 2000
chunk_length = 120
episodes_per_chunk = 3
hidden = 16,16
lookback_length = 40
INI
train() { "$W" --config "$T/t.ini" --ticker AAPL --data "$D" "$@"; }

train --out "$T/a" 2>"$T/a.log"; rc=$?
[ $rc -eq 0 ] && [ -s "$T/a/AAPL.model" ] && ok "trains and writes a model" || bad "train rc=$rc: $(tail -3 "$T/a.log")"
grep -q 'test [0-9]* days: return' "$T/a.log" && ok "prints the backtest" || bad "no backtest line"

# The peak RSS the worker prints (for a person at a terminal) is its
# resident high-water mark: at least every VmHWM seen while it ran
# (polled from /proc), and at most what the kernel counted for the child
# (getrusage, which also holds the forked python before the exec).
python3 - "$W" "$T/t.ini" "$D" "$T/rss" <<'PY' && ok "the printed peak RSS is the process's resident peak" || bad "printed peak RSS"
import os, re, resource, subprocess, sys, time
w, ini, data, out = sys.argv[1:5]
real = os.path.realpath(w)
# Under ASan the leak check at exit touches memory after the summary line.
env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
p = subprocess.Popen([w, "--config", ini, "--ticker", "AAPL", "--data", data, "--out", out],
                     stderr=subprocess.PIPE, text=True, env=env)
seen = 0
while p.poll() is None:
    # Only the worker's own image counts: before the exec the child is a
    # copy of this python (its exe is checked on both sides of the read).
    try:
        exe = "/proc/%d/exe" % p.pid
        before = os.readlink(exe)
        status = open("/proc/%d/status" % p.pid).read()
        hwm = re.search(r"VmHWM:\s+(\d+) kB", status) if os.readlink(exe) == before == real else None
    except OSError:
        hwm = None
    if hwm:
        seen = max(seen, int(hwm.group(1)) * 1024)
    time.sleep(0.002)
err = p.stderr.read()
kernel = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
m = re.search(r"AAPL: peak RSS ([0-9.]+) MiB", err)
assert p.returncode == 0 and m and seen > 0, (p.returncode, seen, err[-300:])
printed = float(m.group(1)) * 1048576
print("# printed %.1f MiB, VmHWM seen %.1f MiB, getrusage %.1f MiB" % (printed / 1048576, seen / 1048576, kernel / 1048576))
# Slack: the print's 0.1 MiB steps, and what the exit path touches after it.
slack = max(0.5 * 1048576, 0.05 * seen)
assert seen - slack <= printed <= kernel + 0.06 * 1048576, (printed, seen, kernel)
PY
train --out "$T/b" 2>/dev/null
cmp -s "$T/a/AAPL.model" "$T/b/AAPL.model" && ok "same seed, same bytes" || bad "two runs with one seed differ"

train --out "$T/s" --set run.seed=8 2>/dev/null
cmp -s "$T/a/AAPL.model" "$T/s/AAPL.model" && bad "another seed gives the same model" || ok "another seed, another model"

# Chunks trained several at once (as on a GPU) give the same model, also
# when a crash in a wave of 4 is resumed in waves of 3.
train --out "$T/w" --set run.chunks_at_once=4 2>/dev/null
cmp -s "$T/a/AAPL.model" "$T/w/AAPL.model" && ok "4 chunks at once, same bytes" || bad "chunks_at_once changes the model"
TV_FAULT_CRASH_AT=7 train --out "$T/w3" --set run.chunks_at_once=4 2>/dev/null; rc=$?
# Episodes 5-8 end together: the wave passes 7, so the fault fires there.
[ $rc -ne 0 ] && [ ! -e "$T/w3/AAPL.model" ] && ok "a fault at episode 7 fires in the wave of 4 that passes it (rc $rc)" ||
	bad "crash at 7 in waves of 4: rc=$rc"
train --out "$T/w3" --set run.chunks_at_once=3 --resume "$T/w3/AAPL.ckpt" 2>/dev/null
cmp -s "$T/a/AAPL.model" "$T/w3/AAPL.model" && ok "crash in a wave of 4, resumed in waves of 3: same bytes" || bad "wave resume differs"
# checkpoint_every counts the multiples a wave passes, not the counts that
# land on one: with waves of 4 and every 3, the waves ending at 4 and 8
# pass 3 and 6 and each checkpoints before the crash at 7 fires.
TV_FAULT_CRASH_AT=7 train --out "$T/w5" --set run.chunks_at_once=4 --set run.checkpoint_every=3 2>"$T/w5.log"; rc=$?
got=$(grep -c 'checkpoint .* at chunk' "$T/w5.log")
[ $rc -ne 0 ] && [ "$got" -eq 2 ] && grep -q 'checkpoint .* at chunk 1 episode 2$' "$T/w5.log" &&
	ok "waves of 4, checkpoint_every 3: checkpoints at 4 and 8" || bad "waves and checkpoint_every 3: rc $rc, $got checkpoints"
train --out "$T/w5" --set run.chunks_at_once=4 --set run.checkpoint_every=3 --resume "$T/w5/AAPL.ckpt" 2>"$T/w5r.log"; rc=$?
[ $rc -eq 0 ] && grep -q '(12/18)' "$T/w5r.log" && cmp -s "$T/a/AAPL.model" "$T/w5/AAPL.model" &&
	ok "resumed after episode 8: same bytes" || bad "resume after the wave checkpoint: rc $rc: $(head -2 "$T/w5r.log")"

# Strategy signals (every 20th trading day, direction x confidence) feed
# the tau feature: the model changes; a bad signals file is bad input.
awk -F, 'NR > 1 && NR % 20 == 2 { printf "%s,%d,%d\n", $1, (NR % 40 == 2 ? 1 : -1), 1 + NR % 3 }' "$D" |
	sed '1i date,direction,confidence' > "$T/signals.csv"
train --out "$T/sig" --signals "$T/signals.csv" 2>"$T/sig.log"; rc=$?
[ $rc -eq 0 ] && ! cmp -s "$T/a/AAPL.model" "$T/sig/AAPL.model" && ok "signals change the model" ||
	bad "signals run rc=$rc, or same model: $(tail -2 "$T/sig.log")"
printf 'date,direction,confidence\n2014-01-02,1,2\n2014-01-03,1,7\n' > "$T/badsig.csv"
train --out "$T/sig2" --signals "$T/badsig.csv" 2>"$T/sig2.log"; rc=$?
[ $rc -eq 12 ] && grep -q 'badsig.csv:3.*confidence' "$T/sig2.log" && ok "bad signals file refused with its line" ||
	bad "bad signals rc=$rc: $(cat "$T/sig2.log")"

TV_FAULT_CRASH_AT=5 train --out "$T/c" 2>/dev/null; rc=$?
[ $rc -ne 0 ] && [ ! -e "$T/c/AAPL.model" ] && [ -s "$T/c/AAPL.ckpt" ] && ok "fault injection crashes at episode 5 (rc $rc)" || bad "crash injection rc=$rc"
# A fault fires in a run that passes its episode, not in one that starts
# there (the resume starts at episode 4, after its checkpoint).
TV_FAULT_CRASH_AT=4 train --out "$T/c" --resume "$T/c/AAPL.ckpt" 2>"$T/c.log"; rc=$?
head -2 "$T/c.log" | grep -q '(5/' && ok "resume continues after episode 4's checkpoint" || bad "resume did not continue from the checkpoint: $(head -2 "$T/c.log")"
[ $rc -eq 0 ] && cmp -s "$T/a/AAPL.model" "$T/c/AAPL.model" && ok "crash + resume gives identical bytes" || bad "crash + resume differs (rc $rc)"

# Not through the train function: a backgrounded function is a subshell.
TV_FAULT_SLOW_MS=40 "$W" --config "$T/t.ini" --ticker AAPL --data "$D" --out "$T/d" 2>/dev/null & pid=$!
# Signal once training is under way (the first checkpoint exists), then
# it must still checkpoint at the next step boundary and exit 10.
for _ in $(seq 100); do [ -e "$T/d/AAPL.ckpt" ] && break; sleep 0.1; done
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 10 ] && ok "SIGTERM exits 10 (interrupted) after a checkpoint" || bad "SIGTERM rc=$rc"
train --out "$T/d" --resume "$T/d/AAPL.ckpt" 2>/dev/null; rc=$?
[ $rc -eq 0 ] && cmp -s "$T/a/AAPL.model" "$T/d/AAPL.model" && ok "SIGTERM + resume gives identical bytes" || bad "SIGTERM + resume differs (rc $rc)"

"$W" --evaluate "$T/a/AAPL.model" --data "$D" >"$T/e.json" 2>"$T/e.log"; rc=$?
# The comparison is made here, not only by the worker: the printed JSON
# against the stored metrics (decoded with Python's msgpack), and buy and
# hold and the test days against values computed from the CSV itself.
PY=
for p in python3 /usr/bin/python3; do "$p" -c 'import msgpack' 2>/dev/null && { PY=$p; break; }; done
if [ -z "$PY" ]; then
	bad "--evaluate: no python3 with msgpack to check the metrics (tests/install-deps.sh installs it)"
elif [ $rc -eq 0 ] && "$PY" "$SRC/tests/evaluate_check.py" "$T/a/AAPL.model" "$T/e.json" "$D" >"$T/ec.log"; then
	ok "--evaluate prints the stored metrics; buy and hold and test days match the CSV ($(tail -1 "$T/ec.log"))"
else
	bad "--evaluate rc=$rc: $(cat "$T/e.log" "$T/ec.log" 2>/dev/null | tail -5)"
fi
# A stored metric one unit in the last place off (CRC resealed) is a
# mismatch, whichever metric it is.
for k in sharpe win_rate; do
	python3 "$SRC/tests/modelfile_edit.py" "$T/a/AAPL.model" "$T/bump-$k.model" bump $k
	"$W" --evaluate "$T/bump-$k.model" --data "$D" >/dev/null 2>"$T/bump-$k.log"; rc=$?
	[ $rc -eq 13 ] && grep -q 'metrics differ from those stored' "$T/bump-$k.log" &&
		ok "--evaluate: stored $k 1 ulp off is a mismatch (rc 13)" || bad "--evaluate, $k bumped: rc $rc: $(head -2 "$T/bump-$k.log")"
done
"$W" --evaluate "$T/a/AAPL.model" --data "$SRC/examples/data/GOOG.csv" 2>"$T/e2.log"; rc=$?
[ $rc -eq 12 ] && grep -q 'other data' "$T/e2.log" && ok "--evaluate refuses other data" || bad "--evaluate on other data rc=$rc"

cp "$T/a/AAPL.ckpt" "$T/bad.ckpt"
printf '\x00\x01' | dd of="$T/bad.ckpt" bs=1 seek=3000 conv=notrunc 2>/dev/null
train --out "$T/f" --resume "$T/bad.ckpt" 2>"$T/f.log"; rc=$?
[ $rc -eq 12 ] && grep -q 'bad.ckpt: corrupt checkpoint: checksum mismatch' "$T/f.log" && ok "corrupt checkpoint refused" || bad "corrupt checkpoint rc=$rc: $(cat "$T/f.log")"
# The supervisor decides between PATH and PATH.prev (docs/protocol.md): the
# worker resumes exactly the file it is given. A damaged --resume file with
# a good .prev beside it is refused, naming the file, and nothing trains.
mkdir -p "$T/pv"
cp "$T/a/AAPL.ckpt" "$T/pv/AAPL.ckpt.prev"
cp "$T/bad.ckpt" "$T/pv/AAPL.ckpt"
train --out "$T/pvo" --resume "$T/pv/AAPL.ckpt" 2>"$T/pv.log"; rc=$?
[ $rc -eq 12 ] && grep -q "pv/AAPL.ckpt: corrupt checkpoint: checksum mismatch" "$T/pv.log" && [ ! -e "$T/pvo/AAPL.model" ] &&
	! grep -q "AAPL.ckpt.prev" "$T/pv.log" && ok "damaged --resume with a good .prev beside it: refused, naming the file" ||
	bad "damaged --resume with a good .prev: rc=$rc (want 12, no model): $(tail -3 "$T/pv.log")"
head -c 100 "$T/a/AAPL.ckpt" > "$T/short.ckpt"
train --out "$T/f" --resume "$T/short.ckpt" 2>"$T/f.log"; rc=$?
[ $rc -eq 12 ] && grep -q 'short.ckpt' "$T/f.log" && ok "truncated checkpoint refused" || bad "truncated checkpoint rc=$rc"
train --out "$T/f" --resume "$T/a/AAPL.ckpt" --set rewts.chunk_length=100 2>"$T/f.log"; rc=$?
[ $rc -eq 12 ] && grep -q "chunk_length" "$T/f.log" && ok "checkpoint of another config refused, key named" || bad "config mismatch rc=$rc: $(cat "$T/f.log")"

# The report fd carries frames: 4-byte length + msgpack; check them with python's msgpack.
if /usr/bin/python3 -c 'import msgpack' 2>/dev/null; then
	train --out "$T/g" --report-fd 3 --set run.heartbeat=0.05 3>"$T/frames.bin" 2>/dev/null
	/usr/bin/python3 - "$T/frames.bin" <<'PY' && ok "report fd: frames decode, hello first, result last" || bad "report frames"
import sys, msgpack
data = open(sys.argv[1], 'rb').read()
i, types, prog, frames = 0, [], [], []
while i < len(data):
    n = int.from_bytes(data[i:i + 4], 'big')
    m = msgpack.unpackb(data[i + 4:i + 4 + n])
    assert m['v'] == 1, m
    types.append(m['t'])
    frames.append(m)
    if m['t'] == 'progress':
        prog.append(m)
    i += 4 + n
assert types[0] == 'hello' and types[-1] == 'result', types[:3] + types[-3:]
assert 'heartbeat' in types and 'checkpoint' in types and 'progress' in types
# An episode is chunk_length - 1 = 119 steps (one per pair of days), with a
# gradient step from the step at which the replay holds a batch (32) on:
# 88 after a chunk's first episode, 88 + 119 after its second; a chunk's
# last episode ends it (0). Six chunks of three episodes.
want = {1: 119 - 31, 2: 2 * 119 - 31, 3: 0}
assert len(prog) == 18 and all(m['step'] == want[m['episode']] for m in prog), \
    [(m['chunk'], m['episode'], m['step']) for m in prog]
# The weights it reports hold every chunk's model (six 11-16-16-3 networks)
# and the training agent's online and target networks, at least.
n = sum(a * b + b for a, b in ((11, 16), (16, 16), (16, 3)))
peak = max(m['peak_weights'] for m in frames if m['t'] == 'heartbeat')
assert peak >= (6 + 2) * n * 4, (peak, n)
PY
else
	echo "# python3-msgpack missing: frame check skipped"
fi

# The Python example of docs/model-format.md reads the model we wrote.
if /usr/bin/python3 -c 'import msgpack, numpy' 2>/dev/null; then
	sed -n '/^```python/,/^```$/p' "$SRC/docs/model-format.md" | sed '1d;$d' > "$T/read.py"
	/usr/bin/python3 "$T/read.py" "$T/a/AAPL.model" > "$T/py.out" 2>&1 && grep -q "^AAPL .*chunk models" "$T/py.out" &&
		ok "docs/model-format.md's Python example reads the model" || bad "docs example: $(cat "$T/py.out")"
fi

echo "$pass passed, $fails failed"
[ $fails -eq 0 ]
