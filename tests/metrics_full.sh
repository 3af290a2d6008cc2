#!/bin/sh
# run.metrics_file on a full disk: every rewrite fails, the warning names
# the file and the cause (no space left), once; the previous file stays
# whole (the write goes to a temporary file, which is removed); the run
# itself is not disturbed. With room again, the next run writes a valid file.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
mkdir tiny
mount -t tmpfs -o size=64k tmpfs tiny 2>/dev/null || skip "cannot mount a tmpfs (needs root)"
trap 'rc=$?; umount "$T/tiny" 2>/dev/null || true; set +e; (exit $rc); tv_cleanup' EXIT
CHECK="python3 $TV_SOURCE_ROOT/tests/promcheck.py"
printf '# HELP tickervisor_old h\n# TYPE tickervisor_old gauge\ntickervisor_old 1\n' >tiny/tv.prom
cp tiny/tv.prom old.prom
dd if=/dev/zero of=tiny/filler bs=1k 2>/dev/null || true
# Eight tickers: the file is larger than one stdio buffer, so the failure
# shows while it is being written, not only at the flush.
mkdir data
for t in AAA BBB CCC DDD EEE FFF GGG HHH; do ln -s "$DATA/GOOG.csv" data/$t.csv; done
write_config run.ini
sed -i "s|^data_dir = .*|data_dir = $T/data|; s|^parallel = .*|parallel = 4|" run.ini
FAKE_EPISODES=10 FAKE_SLEEP_MS=100 "$TV_SUPERVISOR" run run.ini \
	--set run.metrics_file="$T/tiny/tv.prom" --worker "$TV_BUILD_ROOT/tests/sup_fake_worker" \
	>run1.out 2>&1 || fail "the run failed: $(tail -5 run1.out)"
expect_eq "tickers done" "$(q out/tickervisor.db "select count(*) from jobs where state='done'")" 8
expect_eq "warnings about the metrics file" "$(grep -c "run.metrics_file not written" run1.out)" 1
grep -q "run.metrics_file not written: $T/tiny/tv.prom.tmp.[0-9]*: No space left on device" run1.out ||
	fail "the warning does not name the file and the cause: $(grep metrics_file run1.out)"
cmp -s tiny/tv.prom old.prom || fail "the previous metrics file was changed"
expect_eq "files in the full folder" "$(ls tiny | tr '\n' ' ')" "filler tv.prom "

rm tiny/filler
"$TV_SUPERVISOR" run run.ini --set run.metrics_file="$T/tiny/tv.prom" \
	--worker "$TV_BUILD_ROOT/tests/sup_fake_worker" >run2.out 2>&1 || fail "second run: $(tail -5 run2.out)"
if grep "run.metrics_file" run2.out; then fail "a warning with room on the disk"; fi
$CHECK tiny/tv.prom >end.json 2>end.err || fail "the file written with room is invalid: $(cat end.err)"
[ "$(wc -c <tiny/tv.prom)" -gt 4096 ] || fail "the file is not larger than a stdio buffer: $(wc -c <tiny/tv.prom) bytes"
grep -q '^tickervisor_jobs{state="done"} 8$' tiny/tv.prom || fail "done jobs: $(grep tickervisor_jobs tiny/tv.prom)"
echo "ok"
