#!/usr/bin/env bash
# A full disk: the worker writes its checkpoints to a small tmpfs until one
# no longer fits. It must stop with a clear error naming the file (exit 13,
# internal: retried later), leave the last good checkpoint intact, and a
# resume from that checkpoint on a roomier disk must give the same model
# bytes as a run that never hit the wall. Skipped (77) where tmpfs cannot
# be mounted (not root, no mount namespace rights).
set -u
W=${TV_WORKER:?}
SRC=${TV_SOURCE_ROOT:?}
D=$SRC/examples/data/AAPL.csv
T=$(mktemp -d)
cleanup() { umount "$T/small" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
mkdir -p "$T/small"
mount -t tmpfs -o size=100k tmpfs "$T/small" 2>/dev/null || { echo "cannot mount a tmpfs here: skipped"; exit 77; }
cat > "$T/t.ini" <<'INI'
[run]
seed = 11
checkpoint_every = 1
[rewts]
batch_size = 32
buffer_size = 2000
chunk_length = 120
episodes_per_chunk = 4
hidden = 16,16
lookback_length = 40
INI
fails=0
pass=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fails=$((fails + 1)); echo "FAIL - $1"; }

"$W" --config "$T/t.ini" --ticker AAPL --data "$D" --out "$T/ref" 2>/dev/null || bad "reference run"
"$W" --config "$T/t.ini" --ticker AAPL --data "$D" --out "$T/small" 2>"$T/full.log"; rc=$?
[ $rc -eq 13 ] && grep -q "small/AAPL.ckpt.tmp.*No space left on device" "$T/full.log" &&
	ok "full disk: exit 13 with the file and the reason" || bad "full disk: rc=$rc: $(tail -2 "$T/full.log")"
[ ! -e "$T/small/AAPL.ckpt.tmp" ] && ok "no partial file left behind" || bad "AAPL.ckpt.tmp left on the full disk"
[ ! -e "$T/small/AAPL.model" ] && [ -s "$T/small/AAPL.ckpt" ] && ok "the last good checkpoint is still there" ||
	bad "no checkpoint left: $(ls -la "$T/small")"
mkdir -p "$T/big" && cp "$T/small"/AAPL.ckpt* "$T/big/"
"$W" --config "$T/t.ini" --ticker AAPL --data "$D" --out "$T/big" --resume "$T/big/AAPL.ckpt" 2>"$T/resume.log"; rc=$?
[ $rc -eq 0 ] && cmp -s "$T/ref/AAPL.model" "$T/big/AAPL.model" &&
	ok "resumed on a roomier disk: the same model bytes as a run that never hit the wall" ||
	bad "resume after the full disk: rc=$rc, $(tail -2 "$T/resume.log")"
echo "$pass passed, $fails failed"
[ $fails -eq 0 ]
