#!/bin/sh
# Admission by available memory (issue 12), fed a fake /proc/meminfo
# through TICKERVISOR_MEMINFO:
# 1. MemAvailable 80 MiB, budget.rss 100 MiB: it does not hold one
#    worker: nothing starts, the log and status say
#    "waiting for memory" (not a slot); then MemAvailable 8 GiB: both
#    tickers start and finish, and the log says memory holds them again.
# 2. MemAvailable 150 MiB: one worker fits, a second
#    does not fit next to it (the first may still grow to its budget): with
#    parallel 2 the two tickers run one after the other.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
meminfo() {
	printf 'MemTotal:       16000000 kB\nMemFree:         1000 kB\nMemAvailable:   %d kB\n' "$1" >meminfo.tmp
	mv meminfo.tmp meminfo
}
export TICKERVISOR_MEMINFO="$T/meminfo"
DB=out/tickervisor.db
meminfo $((80 * 1024))
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,MSFT --set budget.rss=100MiB >run1.out 2>&1 &
sup=$!
wait_for $DB "select count(*) from runs where memory_wait like 'waiting for memory%'" 30
sleep 1.5
expect_eq "held back: no attempt" "$(q $DB "select count(*) from attempts")" 0
grep -q "waiting for memory: available 80.0 MiB does not hold budget.rss 100.0 MiB" run1.out ||
	fail "the log does not say why it waits"
"$TV_SUPERVISOR" status $DB >status1.out 2>&1 || fail "status failed"
grep -q "^pending: waiting for memory: available 80.0 MiB" status1.out || fail "status does not say it waits for memory"
grep -q "worker slot" status1.out && fail "status says slot while memory holds it back"
"$TV_SUPERVISOR" status --json $DB >status1.json 2>&1 || fail "status --json failed"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["memory"]; assert m["waiting_for_memory"] is True and m["waiting"].startswith("waiting for memory"), m' status1.json ||
	fail "status --json does not say it waits for memory"
meminfo $((8 * 1024 * 1024))
set +e
wait "$sup"
rc=$?
set -e
expect_eq "released: exit status" "$rc" 0
expect_eq "released: both done" "$(q $DB "select group_concat(state, ',') from jobs")" "done,done"
expect_eq "released: one attempt each" "$(q $DB "select count(*) from attempts")" 2
grep -q "memory holds the next worker again" run1.out || fail "the log does not say memory was released"
expect_eq "the wait is cleared" "$(q $DB "select memory_wait from runs")" ""

# 2. Room for one: they do not overlap.
DB2=one.db
meminfo $((150 * 1024))
"$TV_SUPERVISOR" run run.ini --db $DB2 --set run.out_dir=one --set run.tickers=GOOG,MSFT \
	--set budget.rss=100MiB >run2.out 2>&1 || fail "run 2 failed"
expect_eq "one at a time: both done" "$(q $DB2 "select group_concat(state, ',') from jobs")" "done,done"
expect_eq "one at a time: no overlap" \
	"$(q $DB2 "select count(*) from attempts a, attempts b where a.id < b.id and b.started_at < a.ended_at")" 0
grep -q "waiting for memory: .*plus .* the 1 running may still grow" run2.out ||
	fail "the log does not say the running worker's growth held the second back"
echo "ok"
