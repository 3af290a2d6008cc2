#!/usr/bin/env bash
# Under an address-space limit (ulimit -v, as cluster schedulers set) the
# worker exits with the out-of-memory code 11 within seconds and names what
# it could not allocate - training and --evaluate alike. (It used to spin
# at full CPU forever: OpenBLAS retries a failed buffer allocation.)
set -u
W=${TV_WORKER:?}
SRC=${TV_SOURCE_ROOT:?}
D=$SRC/examples/data/AAPL.csv
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
pass=0
if nm -D "$W" 2>/dev/null | grep -q __asan_init || ldd "$W" | grep -q libasan; then
	echo "sanitizer build: its shadow memory needs terabytes of address space: skipped"
	exit 77
fi
printf '[run]\nseed = 3\n[rewts]\nbatch_size = 16\nbuffer_size = 500\nchunk_length = 120\nepisodes_per_chunk = 1\nhidden = 8\nlookback_length = 40\n' > "$T/t.ini"
"$W" --config "$T/t.ini" --ticker X --data "$D" --out "$T/ok" 2>/dev/null ||
	{ echo "FAIL - training without a limit"; exit 1; }

# limited NAME -- worker args: 100 MB of address space, killed after 20 s.
limited() {
	local name=$1 start end rc
	shift 2
	start=$(date +%s)
	(ulimit -v 100000; exec timeout -s KILL 20 "$W" "$@") >"$T/out" 2>"$T/err"
	rc=$?
	end=$(date +%s)
	if [ $rc -eq 11 ] && [ $((end - start)) -le 10 ] && grep -q "out of memory: cannot reserve OpenBLAS's work buffers" "$T/err"; then
		pass=$((pass + 1)); echo "ok - $name: exit 11 after $((end - start)) s, naming the allocation"
	else
		fails=$((fails + 1)); echo "FAIL - $name: rc=$rc after $((end - start)) s: $(tail -c 300 "$T/err")"
	fi
}
limited "training under ulimit -v 100000" -- --config "$T/t.ini" --ticker X --data "$D" --out "$T/a"
limited "--evaluate under ulimit -v 100000" -- --evaluate "$T/ok/X.model" --data "$D"
limited "model = lstm under ulimit -v 100000" -- --config "$T/t.ini" --set run.model=lstm \
	--set rewts.chunk_length=300 --set rewts.lstm_window=20 --ticker X --data "$D" --out "$T/l"
echo "$pass passed, $fails failed"
[ $fails -eq 0 ]
