#!/bin/sh
# Which configuration keys change a model's bytes (issue 13): the keys
# common/config.c does not mark model-shaping, the data file's path, the
# environment's OPENBLAS_NUM_THREADS and the locale must leave the model
# byte-identical; run.threads (marked model-shaping) changes the weights
# themselves, not only the text the model embeds, so a run must never mix
# two thread counts (the supervisor records and checks it).
set -u
W=${TV_WORKER:?}
SRC=${TV_SOURCE_ROOT:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/tv-audit.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
bad() { fails=$((fails + 1)); echo "FAIL - $1"; }
ok() { echo "ok - $1"; }

cp "$SRC/examples/data/AAPL.csv" "$T/AAPL.csv"
mkdir "$T/elsewhere"
cp "$SRC/examples/data/AAPL.csv" "$T/elsewhere/AAPL.csv"
cat >"$T/small.ini" <<'INI'
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
# Big enough that OpenBLAS uses its threads (hidden 256: gemm past its
# single-thread cut-off).
sed 's/hidden = 16,16/hidden = 256,256,128/; s/batch_size = 32/batch_size = 128/' \
	"$T/small.ini" >"$T/big.ini"

train() { # NAME INI [ARGS...]: model in $T/NAME/AAPL.model
	name=$1 ini=$2
	shift 2
	"$W" --config "$T/$ini" --ticker AAPL --data "$T/AAPL.csv" --out "$T/$name" "$@" \
		>"$T/$name.log" 2>&1 || bad "$name: worker failed: $(tail -2 "$T/$name.log")"
}
same() { # NAME REF WHAT
	if cmp -s "$T/$1/AAPL.model" "$T/$2/AAPL.model"; then ok "$3: same model bytes"
	else bad "$3 changed the model bytes"; fi
}
differ() {
	if cmp -s "$T/$1/AAPL.model" "$T/$2/AAPL.model"; then bad "$3 did not change the model"
	else ok "$3 changes the model"; fi
}

train ref small.ini
i=0
for kv in run.name=other run.parallel=4 run.gpus=none run.workers_per_gpu=3 \
	run.max_attempts=9 run.hang_timeout=5 run.backoff=7 run.device=cpu \
	run.checkpoint_every=1 run.heartbeat=0.05 run.chunks_at_once=3 \
	run.tickers=AAPL,MSFT run.signals_dir=/nonexistent run.signals_required=true \
	run.data_dir=/nonexistent run.out_dir=/nonexistent \
	budget.rss=8GiB budget.vram=1GiB budget.poll_ms=7 budget.soft_fraction=0.5 \
	budget.wal=1MiB run.db_lock_timeout=3 \
	rewts.min_batch_size=4; do
	i=$((i + 1))
	train "k$i" small.ini --set "$kv"
	same "k$i" ref "$kv"
done
"$W" --config "$T/small.ini" --ticker AAPL --data "$T/elsewhere/AAPL.csv" --out "$T/path" \
	>"$T/path.log" 2>&1 || bad "other data path: worker failed"
same path ref "the data file's path"
train seed small.ini --set run.seed=8
differ seed ref "run.seed"
train gamma small.ini --set rewts.gamma=0.99
differ gamma ref "rewts.gamma"

train big1 big.ini
OPENBLAS_NUM_THREADS=2 train bigenv big.ini
same bigenv big1 "OPENBLAS_NUM_THREADS=2 in the environment"
if locale -a 2>/dev/null | grep -qi '^c\.utf-\?8$'; then
	LC_ALL=C.UTF-8 LANG=C.UTF-8 train bigloc big.ini
	same bigloc big1 "LC_ALL=C.UTF-8"
fi
LC_NUMERIC=de_DE.UTF-8 train bigloc2 big.ini
same bigloc2 big1 "LC_NUMERIC=de_DE.UTF-8"
train big2 big.ini --set run.threads=2
differ big2 big1 "run.threads=2 (model-shaping)"

[ $fails -eq 0 ] || { echo "$fails failed"; exit 1; }
echo "all ok"
