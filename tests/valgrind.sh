#!/usr/bin/env bash
# The real binaries under valgrind (memcheck): training, a resume from a
# fault-injected crash, --evaluate, a supervised run and the status view.
# Any memory error or definite/indirect leak fails the test. Skipped (77)
# without valgrind or in a sanitizer build (the two do not mix).
set -u
W=${TV_WORKER:?}
S=${TV_SUPERVISOR:?}
SRC=${TV_SOURCE_ROOT:?}
command -v valgrind >/dev/null || { echo "valgrind not installed: skipped"; exit 77; }
if nm -D "$W" 2>/dev/null | grep -q __asan_init || ldd "$W" | grep -q libasan; then
	echo "sanitizer build: skipped"
	exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# Set, so the worker does not execute itself again to set it (valgrind
# would not follow that exec, and would check nothing).
export OPENBLAS_NUM_THREADS=1
VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
D=$SRC/examples/data/AAPL.csv
cat > "$T/t.ini" <<'INI'
[run]
seed = 5
checkpoint_every = 2
[rewts]
batch_size = 16
buffer_size = 500
chunk_length = 120
episodes_per_chunk = 1
hidden = 8
lookback_length = 40
INI
fails=0
pass=0
check() { # check NAME RC
	if [ "$2" -eq 99 ]; then fails=$((fails + 1)); echo "FAIL - $1: valgrind reported errors"; tail -30 "$T/vg.log";
	elif [ "$2" -ne 0 ]; then fails=$((fails + 1)); echo "FAIL - $1: exit $2"; tail -5 "$T/vg.log";
	else pass=$((pass + 1)); echo "ok - $1"; fi
}
$VG "$W" --config "$T/t.ini" --ticker AAPL --data "$D" --out "$T/a" >"$T/vg.log" 2>&1
check "worker trains" $?
TV_FAULT_CRASH_AT=3 "$W" --config "$T/t.ini" --ticker AAPL --data "$D" --out "$T/b" 2>/dev/null
$VG "$W" --config "$T/t.ini" --ticker AAPL --data "$D" --out "$T/b" --resume "$T/b/AAPL.ckpt" >"$T/vg.log" 2>&1
check "worker resumes from a checkpoint" $?
$VG "$W" --evaluate "$T/a/AAPL.model" --data "$D" >"$T/vg.log" 2>&1
check "worker --evaluate" $?
$VG "$W" --config "$T/t.ini" --set run.model=lstm --set rewts.lstm_epochs=2 --set rewts.lstm_window=10 \
	--set rewts.lstm_hidden=8 --ticker AAPL --data "$D" --out "$T/l" >"$T/vg.log" 2>&1
check "worker trains the LSTM kind" $?
mkdir -p "$T/data" && cp "$D" "$T/data/"
printf '[run]\ndata_dir = data\nout_dir = out\n' | cat - <(sed 1,3d "$T/t.ini") > "$T/run.ini"
$VG "$S" run "$T/run.ini" >"$T/vg.log" 2>&1
check "supervisor run" $?
$VG "$S" status "$T/out/tickervisor.db" --json >"$T/vg.log" 2>&1
check "status --json" $?
echo "$pass passed, $fails failed"
[ $fails -eq 0 ]
