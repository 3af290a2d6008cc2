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

echo "$pass passed, $fails failed"
[ $fails -eq 0 ]
