#!/usr/bin/env bash
# The real worker on the GPU (run.device = cuda) against the CPU reference on
# the same data and config: both finish, the GPU's backtest is of the same
# kind, a crash on the GPU resumes from its checkpoint, and halving the batch
# lowers the worker's device bytes. Exit 77 (skipped) without a CUDA device.
set -u
W=${TV_WORKER:?}
SRC=${TV_SOURCE_ROOT:?}
D=$SRC/examples/data/AAPL.csv
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cat > "$T/t.ini" <<'INI'
[run]
seed = 3
checkpoint_every = 2
[rewts]
batch_size = 64
buffer_size = 4000
chunk_length = 120
episodes_per_chunk = 6
lookback_length = 60
INI
"$W" --config "$T/t.ini" --set run.device=cuda --ticker AAPL --data "$D" --out "$T/g" 2>"$T/g.log"
rc=$?
if [ $rc -eq 12 ] && grep -qE 'no CUDA device|without CUDA' "$T/g.log"; then
	echo "no CUDA device: skipped"
	exit 77
fi
fails=0
pass=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fails=$((fails + 1)); echo "FAIL - $1"; }
[ $rc -eq 0 ] && grep -q 'cuda on' "$T/g.log" && ok "trains on the GPU ($(grep -o 'cuda on [^,]*' "$T/g.log"))" || bad "GPU run rc=$rc: $(tail -3 "$T/g.log")"
"$W" --config "$T/t.ini" --set run.device=cpu --ticker AAPL --data "$D" --out "$T/c" 2>"$T/c.log" && ok "trains on the CPU" || bad "CPU run"
for f in g c; do echo "# $f: $(grep 'test .* days' "$T/$f.log" | sed 's/.*days: //')"; done
"$W" --evaluate "$T/g/AAPL.model" --data "$D" >/dev/null 2>&1 && ok "the GPU's model evaluates on the CPU to its stored metrics" || bad "--evaluate of the GPU model"

# Last-episode losses of both backends (same data, seeds, batches sampled by
# the same host generator): of the same order of magnitude.
python3 - "$T/g.log" "$T/c.log" <<'PY' && ok "GPU and CPU learning curves agree in scale" || bad "loss curves differ"
import re, sys
def losses(p):
    return [float(m.group(1)) for m in re.finditer(r'loss ([0-9.e+-]+)', open(p).read())]
# The GPU trains several chunks at once (one progress line per wave
# episode), the CPU one at a time: compare the mean episode loss.
g, c = losses(sys.argv[1]), losses(sys.argv[2])
assert g and c, (len(g), len(c))
mg, mc = sum(g) / len(g), sum(c) / len(c)
print('# mean episode loss: gpu %.5g, cpu %.5g' % (mg, mc))
assert 0.2 < mg / mc < 5, (mg, mc)
PY

TV_FAULT_CRASH_AT=3 "$W" --config "$T/t.ini" --set run.device=cuda --ticker AAPL --data "$D" --out "$T/r" 2>/dev/null
"$W" --config "$T/t.ini" --set run.device=cuda --ticker AAPL --data "$D" --out "$T/r" --resume "$T/r/AAPL.ckpt" 2>"$T/r.log"; rc=$?
# All 6 chunks train at once on the GPU, so a fresh start's first progress
# line reads (6/36); resuming from the checkpoint taken at episode 6 reads more.
first=$(grep -o '([0-9]*/' "$T/r.log" | head -1 | tr -d '(/')
[ $rc -eq 0 ] && [ "${first:-0}" -gt 6 ] && ok "crash on the GPU resumes from its checkpoint (first progress $first/36)" || bad "GPU resume rc=$rc: $(head -3 "$T/r.log")"

# Device bytes reported in heartbeats, at batch 512 and 256.
for b in 512 256; do
	"$W" --config "$T/t.ini" --set run.device=cuda --set rewts.batch_size=$b --ticker AAPL --data "$D" \
		--out "$T/b$b" --report-fd 3 3>"$T/frames$b" 2>/dev/null
done
python3 - "$T/frames512" "$T/frames256" <<'PY' && ok "halving batch_size lowers the device's activation bytes" || bad "device bytes do not follow the batch"
import sys
try:
    import msgpack
except ImportError:
    sys.exit(0)
def peak(path):
    data, i, best = open(path, 'rb').read(), 0, 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], 'big'); m = msgpack.unpackb(data[i + 4:i + 4 + n]); i += 4 + n
        if m['t'] == 'heartbeat':
            best = max(best, m['peak_device'])
    return best
a, b = peak(sys.argv[1]), peak(sys.argv[2])
print('# peak device bytes: batch 512 %d, batch 256 %d' % (a, b))
assert a > b > 0
PY
echo "$pass passed, $fails failed"
[ $fails -eq 0 ]
