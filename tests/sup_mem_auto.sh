#!/bin/sh
# budget.rss = auto (issue 12): derived at start, said in the log, the
# database and status.
# 1. On this machine: (MemAvailable - reserve) / parallel, within 25% of
#    what /proc/meminfo says now, and below MemTotal.
# 2. A fake MemAvailable of 4 GiB (TICKERVISOR_MEMINFO): exactly
#    (4 GiB - 10%) / 2.
# 3. Inside a fake memory-limited cgroup (TICKERVISOR_CGROUP_DIR), v2
#    (memory.max 2 GiB, memory.current 512 MiB) and v1
#    (memory.limit_in_bytes, memory.usage_in_bytes): the limit minus the
#    usage is what is available: (1.5 GiB - 256 MiB) / 2 = 640 MiB; a
#    cgroup without a limit ("max") leaves MemAvailable in charge.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
SETS="--set run.tickers=GOOG,MSFT --set run.parallel=2 --set budget.rss=auto"
budget() {
	q "$1" "select budget_rss from runs order by id desc limit 1"
}

# MemAvailable is read just before and after the run (other programs move
# it); the budget must lie within 10% of the range those two give.
grep '^MemAvailable:' /proc/meminfo >avail.before
"$TV_SUPERVISOR" run run.ini $SETS --db host.db --set run.out_dir=host >host.out 2>&1 || fail "run on this machine failed"
grep '^MemAvailable:' /proc/meminfo >avail.after
b=$(budget host.db)
python3 - "$b" <<'PY' || fail "auto budget $b is not (MemAvailable - reserve) / 2 of /proc/meminfo"
import sys
b = int(sys.argv[1])
total = [int(l.split()[1]) * 1024 for l in open('/proc/meminfo') if l.startswith('MemTotal:')][0]
want = [(a - max(256 << 20, int(a * 0.1))) / 2
        for a in (int(open(f).read().split()[1]) * 1024 for f in ('avail.before', 'avail.after'))]
print('auto budget', b, 'want', [int(w) for w in want], 'MemTotal', total)
assert 0 < b < total, (b, total)
assert 0.9 * min(want) <= b <= 1.1 * max(want), (b, want)
PY
grep -q "memory: budget.rss auto: MemAvailable .* - reserve .* for 2 workers at once" host.out ||
	fail "the log does not say how the budget was chosen"
expect_eq "both done under the auto budget" "$(q host.db "select group_concat(state, ',') from jobs")" "done,done"
"$TV_SUPERVISOR" status host.db >host.status 2>&1 || fail "status failed"
grep -q "^memory: budget.rss auto: MemAvailable" host.status || fail "status does not say how the budget was chosen"

# 2. A fake MemAvailable.
printf 'MemTotal: 8388608 kB\nMemAvailable: 4194304 kB\n' >meminfo
TICKERVISOR_MEMINFO="$T/meminfo" "$TV_SUPERVISOR" run run.ini $SETS --db fake.db --set run.out_dir=fake \
	>fake.out 2>&1 || fail "run with a fake MemAvailable failed"
expect_eq "fake MemAvailable 4 GiB" "$(budget fake.db)" $(( (4294967296 - 429496729) / 2 ))

# 3. A memory-limited cgroup, v2 then v1.
mkdir cg2 cg1 cgmax
echo 2147483648 >cg2/memory.max
echo 536870912 >cg2/memory.current
echo 2147483648 >cg1/memory.limit_in_bytes
echo 536870912 >cg1/memory.usage_in_bytes
echo max >cgmax/memory.max
echo 536870912 >cgmax/memory.current
for v in 2 1; do
	TICKERVISOR_MEMINFO="$T/meminfo" TICKERVISOR_CGROUP_DIR="$T/cg$v" "$TV_SUPERVISOR" run run.ini $SETS \
		--db cg$v.db --set run.out_dir=cg$v >cg$v.out 2>&1 || fail "run in the cgroup v$v failed"
	expect_eq "cgroup v$v budget" "$(budget cg$v.db)" $(( (1536 - 256) / 2 * 1024 * 1024 ))
	grep -q "memory: budget.rss auto: cgroup limit - usage 1.5 GiB (.*/cg$v/memory.*2.0 GiB, usage 512.0 MiB; MemAvailable 4.0 GiB)" cg$v.out ||
		fail "the log does not name the cgroup v$v limit"
	expect_eq "cgroup v$v: done" "$(q cg$v.db "select group_concat(state, ',') from jobs")" "done,done"
done
TICKERVISOR_MEMINFO="$T/meminfo" TICKERVISOR_CGROUP_DIR="$T/cgmax" "$TV_SUPERVISOR" run run.ini $SETS \
	--db cgmax.db --set run.out_dir=cgmax >cgmax.out 2>&1 || fail "run in the unlimited cgroup failed"
expect_eq "cgroup without a limit" "$(budget cgmax.db)" $(( (4294967296 - 429496729) / 2 ))
echo "ok"
