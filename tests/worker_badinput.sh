#!/usr/bin/env bash
# Every class of bad input gets exit code 12 (bad input) and a message that
# names the file, the line and the field or key - and no model is written.
set -u
W=${TV_WORKER:?}
SRC=${TV_SOURCE_ROOT:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
pass=0
GOOD=$SRC/examples/data/AAPL.csv
printf '[rewts]\nbatch_size = 16\nbuffer_size = 500\nchunk_length = 60\nepisodes_per_chunk = 1\nhidden = 8\nlookback_length = 20\n' > "$T/ok.ini"

# expect NAME PATTERN -- worker args...
expect() {
	local name=$1 pat=$2
	shift 3
	rm -rf "$T/out"
	"$W" "$@" --out "$T/out" >"$T/stdout" 2>"$T/err"
	local rc=$?
	if [ $rc -eq 12 ] && grep -qE -- "$pat" "$T/err" && [ ! -e "$T/out/X.model" ]; then
		pass=$((pass + 1)); echo "ok - $name"
	else
		fails=$((fails + 1)); echo "FAIL - $name: rc=$rc, stderr: $(head -c 400 "$T/err")"
	fi
}
csv() { # csv NAME: stdin -> $T/NAME.csv
	cat > "$T/$1.csv"
}
# A valid file with one line changed (line numbers count the header as 1).
mutate() { # mutate NAME LINE NEWTEXT
	awk -v n="$2" -v t="$3" 'NR == n { print t; next } { print }' "$GOOD" > "$T/$1.csv"
}
run() { echo --config "$T/ok.ini" --ticker X --data "$T/$1.csv"; }

: > "$T/empty.csv"
expect "empty file" "empty.csv.*empty" -- $(run empty)
# Over the CSV size limit (sparse, 1 byte past 256 MiB): bad input, not an
# internal error (a retry would read the same file).
cp "$GOOD" "$T/huge.csv" && truncate -s 268435457 "$T/huge.csv"
expect "file over the size limit" "huge.csv: file too large \(over the limit of 256 MiB\)" -- $(run huge)
rm -f "$T/huge.csv"
# A split that leaves one test day: refused (a return needs two), naming
# the key. The usable days are read from the message of a split with none.
"$W" --config "$T/ok.ini" --ticker X --data "$GOOD" --out "$T/out" --set backtest.test_fraction=0.00001 2>"$T/err0"
n=$(sed -n 's/.*: \([0-9]*\) usable days.*/\1/p' "$T/err0")
frac=$(python3 -c "print(1.0 / $n)" 2>/dev/null)
expect "one test day" "$n usable days .* and 1 test days \(backtest.test_fraction=" -- \
	--config "$T/ok.ini" --ticker X --data "$GOOD" --set backtest.test_fraction=$frac
printf 'date,open,high,low,volume\n2020-01-02,1,1,1,1\n' | csv noclose
expect "missing close column" "noclose.csv:1.*close" -- $(run noclose)
mutate nonnum 5 "2013-05-17,1,1,1,abc,100"
expect "non-numeric close" "nonnum.csv:5.*close" -- $(run nonnum)
mutate nan 6 "2013-05-20,1,1,1,NaN,100"
expect "NaN close" "nan.csv:6.*close" -- $(run nan)
mutate neg 7 "2013-05-21,1,1,1,-5,100"
expect "negative close" "neg.csv:7.*close" -- $(run neg)
mutate negvol 8 "2013-05-22,1,1,1,5,-100"
expect "negative volume" "negvol.csv:8.*volume" -- $(run negvol)
mutate dup 4 "$(sed -n 3p "$GOOD")"
expect "duplicate date" "dup.csv:4.*date" -- $(run dup)
mutate unsorted 4 "2013-05-01,1,1,1,5,100"
expect "unsorted dates" "unsorted.csv:4.*date" -- $(run unsorted)
mutate baddate 9 "2013-13-45,1,1,1,5,100"
expect "bad date" "baddate.csv:9.*date" -- $(run baddate)
head -250 "$GOOD" > "$T/short.csv"
expect "fewer rows than a chunk plus the test period" "short.csv.*chunk_length" -- $(run short)
head -150 "$GOOD" > "$T/tiny.csv"
expect "fewer rows than the indicator warm-up" "tiny.csv.*warm-up" -- $(run tiny)

printf '[rewts]\nbatch_size = 16\nbach_size = 3\n' > "$T/unknown.ini"
expect "unknown config key" "unknown.ini:3.*bach_size" -- --config "$T/unknown.ini" --ticker X --data "$GOOD"
printf '[rewts]\nbatch_size = 0\n' > "$T/zero.ini"
expect "batch_size 0" "zero.ini:2.*batch_size" -- --config "$T/zero.ini" --ticker X --data "$GOOD"
printf '[rewts]\nbatch_size = 64\nbuffer_size = 32\n' > "$T/buf.ini"
expect "buffer_size < batch_size" "buffer_size" -- --config "$T/buf.ini" --ticker X --data "$GOOD"
expect "chunk_length larger than the data" "AAPL.csv.*chunk_length=5000" -- --config "$T/ok.ini" --set rewts.chunk_length=5000 --ticker X --data "$GOOD"
expect "more chunks than the ensemble holds" "chunk models.*chunk_length" -- --config "$T/ok.ini" --set rewts.chunk_length=5 --ticker X --data "$SRC/examples/data/SPX.csv"
expect "bad --set value" "--set rewts.gamma=abc.*gamma" -- --config "$T/ok.ini" --set rewts.gamma=abc --ticker X --data "$GOOD"
expect "missing data file" "nothere.csv" -- --config "$T/ok.ini" --ticker X --data "$T/nothere.csv"

# --- issue 8: absurd numbers and hostile model files ---
mutate absurd 10 "$(sed -n 10p "$GOOD" | awk -F, -v OFS=, '{ $5 = "1.5e308"; print }')"
expect "absurd close (1.5e308)" "absurd.csv:10: field 'close': must be in" -- $(run absurd)
mutate absurdvol 11 "$(sed -n 11p "$GOOD" | awk -F, -v OFS=, '{ $6 = "1e300"; print }')"
expect "absurd volume" "absurdvol.csv:11: field 'volume'" -- $(run absurdvol)

# A model and a checkpoint to damage: edits keep the CRC valid (recomputed).
EDIT="python3 $SRC/tests/modelfile_edit.py"
# The checkpoint is from the middle of a chunk (crash after episode 2), so
# it holds an agent, its environment and its replay buffer.
"$W" --config "$T/ok.ini" --ticker X --data "$GOOD" --out "$T/m" 2>/dev/null ||
	{ fails=$((fails + 1)); echo "FAIL - training the model to damage"; }
MID="--set rewts.episodes_per_chunk=3 --set run.checkpoint_every=1"
TV_FAULT_CRASH_AT=2 "$W" --config "$T/ok.ini" $MID --ticker X --data "$GOOD" --out "$T/mc" 2>/dev/null
resume_from() { # resume_from CKPT: --resume from a copy with no .prev beside it
	mkdir -p "$T/r"; rm -f "$T/r/"*; cp "$1" "$T/r/X.ckpt"
	echo --config "$T/ok.ini" $MID --ticker X --data "$GOOD" --resume "$T/r/X.ckpt"
}
for key in online cash epsilon; do
	$EDIT "$T/mc/X.ckpt" "$T/nan_$key.ckpt" nan $key
	expect "checkpoint with NaN $key (CRC recomputed)" "nan_$key.ckpt|X.ckpt.*'[a-z.]*$key' holds a non-finite number" -- \
		$(resume_from "$T/nan_$key.ckpt")
done
# Counters a forged checkpoint could hold (CRC recomputed): each refused
# naming the field, not trained on.
for v in 0 1 2; do
	$EDIT "$T/mc/X.ckpt" "$T/act.ckpt" replace prev_action=$v prev_action=9 2>/dev/null && break
done
expect "checkpoint with an environment action out of range (CRC recomputed)" \
	"X.ckpt: field 'runs.env.prev_action' out of range" -- $(resume_from "$T/act.ckpt")
for v in 0 1; do
	$EDIT "$T/mc/X.ckpt" "$T/pos.ckpt" replace position=$v position=5 2>/dev/null && break
done
expect "checkpoint with a position that is neither flat nor long (CRC recomputed)" \
	"X.ckpt: field 'runs.env.position' out of range" -- $(resume_from "$T/pos.ckpt")
$EDIT "$T/m/X.model" "$T/nan.model" nan networks
expect "model with a NaN weight (CRC recomputed)" "nan.model: field 'networks' holds a non-finite number" -- \
	--evaluate "$T/nan.model" --data "$GOOD"
$EDIT "$T/huge.model" huge-array
expect "5-byte array header asking for 2^32 elements (--evaluate)" "huge.model: corrupt model: a length or count runs past the end" -- \
	--evaluate "$T/huge.model" --data "$GOOD"
expect "5-byte array header asking for 2^32 elements (--resume)" "X.ckpt: corrupt checkpoint: a length or count runs past the end" -- \
	$(resume_from "$T/huge.model")
$EDIT "$T/m/X.model" "$T/kind.model" replace model_kind=ddqn model_kind=qdnn
expect "--evaluate: unknown model_kind" "kind.model: model_kind 'qdnn' is not one this worker reads" -- \
	--evaluate "$T/kind.model" --data "$GOOD"
$EDIT "$T/m/X.model" "$T/chunks.model" replace "chunk_length = 60" "chunk_length = 70"
expect "--evaluate: chunk count differs from the model's" "chunks.model holds 12 chunk models, but its configuration cuts .*AAPL.csv into 10 chunks" -- \
	--evaluate "$T/chunks.model" --data "$GOOD"
$EDIT "$T/m/X.model" "$T/cfg.model" replace "gamma = 0.995" "gamma = 9.995"
expect "--evaluate: a bad stored configuration names the model file, not a temporary copy" "cfg.model:[0-9]+: key 'rewts.gamma'" -- \
	--evaluate "$T/cfg.model" --data "$GOOD"
$EDIT "$T/m/X.model" "$T/v2.model" replace version=1 version=2
expect "model file of an unknown version" "v2.model: unsupported tickervisor-model version" -- \
	--evaluate "$T/v2.model" --data "$GOOD"
expect "DDQN checkpoint from other price data" "X.ckpt: checkpoint was made from other price data" -- \
	--config "$T/ok.ini" $MID --ticker X --data "$SRC/examples/data/MSFT.csv" --resume "$(resume_from "$T/mc/X.ckpt" >/dev/null; echo "$T/r/X.ckpt")"

# Training that goes non-finite stops naming chunk and episode, writes no model.
rm -rf "$T/nf"
TV_FAULT_NONFINITE_AT=3 "$W" --config "$T/ok.ini" --ticker X --data "$GOOD" --out "$T/nf" 2>"$T/nf.err"; rc=$?
if [ $rc -eq 12 ] && grep -q "training went non-finite in chunk 3, episode 1" "$T/nf.err" && [ ! -e "$T/nf/X.model" ]; then
	pass=$((pass + 1)); echo "ok - non-finite training stops naming chunk and episode"
else
	fails=$((fails + 1)); echo "FAIL - non-finite training: rc=$rc $(tail -2 "$T/nf.err")"
fi

# Yahoo's null rows are missing days: skipped, counted, training goes on.
awk -F, 'NR == 30 || NR == 31 { print $1 ",null,null,null,null,null"; next } { print }' "$GOOD" > "$T/nulls.csv"
rm -rf "$T/nl"
"$W" --config "$T/ok.ini" --ticker X --data "$T/nulls.csv" --out "$T/nl" 2>"$T/nl.err"; rc=$?
if [ $rc -eq 0 ] && grep -q "nulls.csv: 2 missing days (rows of null prices, the first on line 30) skipped" "$T/nl.err" &&
	[ -s "$T/nl/X.model" ]; then
	pass=$((pass + 1)); echo "ok - null rows are skipped missing days, counted"
else
	fails=$((fails + 1)); echo "FAIL - null rows: rc=$rc $(tail -2 "$T/nl.err")"
fi

# run.price_column = adj_close trains on Yahoo's Adj Close (another model
# than on Close), and is bad input naming the header where there is none.
awk -F, -v OFS=, 'NR == 1 { print "Date,Open,High,Low,Close,Adj Close,Volume"; next }
	{ print $1, $2, $3, $4, $5, $5 * (0.9 + NR / 20000), $6 }' "$GOOD" > "$T/yahoo.csv"
rm -rf "$T/pc" "$T/pa"
"$W" --config "$T/ok.ini" --ticker X --data "$T/yahoo.csv" --out "$T/pc" 2>/dev/null; rc1=$?
"$W" --config "$T/ok.ini" --set run.price_column=adj_close --ticker X --data "$T/yahoo.csv" --out "$T/pa" 2>/dev/null; rc2=$?
if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && ! cmp -s "$T/pc/X.model" "$T/pa/X.model" &&
	"$W" --evaluate "$T/pa/X.model" --data "$T/yahoo.csv" >/dev/null 2>&1; then
	pass=$((pass + 1)); echo "ok - run.price_column = adj_close trains on Adj Close (and --evaluate follows it)"
else
	fails=$((fails + 1)); echo "FAIL - price_column: rc $rc1/$rc2, or the same model"
fi
expect "run.price_column = adj_close without that column" "AAPL.csv:1: header: missing column 'adj close'" -- \
	--config "$T/ok.ini" --set run.price_column=adj_close --ticker X --data "$GOOD"

echo "$pass passed, $fails failed"
[ $fails -eq 0 ]
