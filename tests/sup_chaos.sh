#!/bin/sh
# Chaos (issue 7): 8 tickers at parallel 2; at seeded random moments a
# running worker or the supervisor itself is SIGKILLed (at least 12 kills,
# at least 3 of them the supervisor's), and the run is started again until
# every ticker is done. Then: every model is byte-identical to the one an
# undisturbed run makes, no process or cgroup folder is left, status shows
# all done, and no batch was halved (an external kill is a crash, not over
# budget).
# CHAOS_SEED picks the moments (default 7); CHAOS_KILLS the count (12).
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
SEED=${CHAOS_SEED:-7}
KILLS=${CHAOS_KILLS:-12}
mkdir data
for t in AAPL GOOG IBM MSFT SPX; do cp "$DATA/$t.csv" data/; done
for t in AAPL GOOG MSFT; do cp "$DATA/$t.csv" "data/${t}B.csv"; done
write_config run.ini
sed -i "s|^data_dir = .*|data_dir = $T/data|; s/^max_attempts = 3/max_attempts = 30/" run.ini
TICKERS=$(ls data | sed 's/\.csv$//' | tr '\n' ',' | sed 's/,$//')

# The reference: one undisturbed run.
"$TV_SUPERVISOR" run run.ini --db ref.db --set run.out_dir=ref >ref.out 2>&1 || fail "undisturbed run failed"
expect_eq "reference done" "$(q ref.db "select count(*) from jobs where state='done'")" 8

# The moments: delay (seconds) and target (w = a worker, s = the supervisor).
# Three times as many moments as kills: a moment with no worker running (a
# slow start on a loaded machine) is skipped and the next one is used.
awk -v seed="$SEED" -v n="$KILLS" 'BEGIN { srand(seed);
	for (i = 0; i < 3 * n; i++) printf "%.2f %s\n", 0.3 + rand() * 1.2, (i % 4 == 3) ? "s" : "w" }' >plan
DB=out/tickervisor.db
start() {
	TV_FAULT_SLOW_MS=25 "$TV_SUPERVISOR" run run.ini >>chaos.out 2>&1 &
	sup=$!
}
kills=0 sup_kills=0 restarts=0 missed=0
start
while read -r delay who; do
	[ "$kills" -lt "$KILLS" ] || break
	sleep "$delay"
	if ! kill -0 "$sup" 2>/dev/null; then
		wait "$sup" 2>/dev/null || true
		[ "$(q $DB "select count(*) from jobs where state != 'done'" 2>/dev/null || echo 1)" = 0 ] && break
		start
		restarts=$((restarts + 1))
		sleep 0.3
	fi
	if [ "$who" = s ]; then
		kill -9 "$sup" 2>/dev/null && sup_kills=$((sup_kills + 1)) && kills=$((kills + 1))
		wait "$sup" 2>/dev/null || true
		start
		restarts=$((restarts + 1))
	else
		pid=$(q $DB "select pid from attempts where ended_at is null order by random() limit 1" 2>/dev/null || true)
		if [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; then
			kills=$((kills + 1))
		else
			missed=$((missed + 1))
		fi
	fi
done <plan
# Rerun until done (bounded).
for i in 1 2 3 4 5 6 7 8 9 10; do
	wait "$sup" 2>/dev/null || true
	[ "$(q $DB "select count(*) from jobs where state != 'done'")" = 0 ] && break
	start
	restarts=$((restarts + 1))
done
wait "$sup" 2>/dev/null || true

attempts=$(q $DB "select count(*) from attempts")
echo "chaos: seed $SEED, $kills kills ($sup_kills of the supervisor, $missed moments with no worker running), $restarts restarts, $attempts attempts for 8 tickers"
[ "$kills" -ge "$KILLS" ] || fail "only $kills kills landed"
[ "$sup_kills" -ge 3 ] || fail "only $sup_kills supervisor kills"
expect_eq "done" "$(q $DB "select count(*) from jobs where state='done'")" 8
same=0
for t in $(echo "$TICKERS" | tr ',' ' '); do
	cmp "ref/$t.model" "out/$t.model" || fail "$t.model differs from the undisturbed run's"
	same=$((same + 1))
done
echo "chaos: $same of 8 models byte-identical to the undisturbed run"
expect_eq "batch sizes" "$(q $DB "select group_concat(distinct batch_size) from attempts")" 32
expect_eq "over-budget attempts" "$(q $DB "select count(*) from attempts where exit_kind='over-budget'")" 0
[ -z "$(workers_alive)" ] || fail "processes left: $(workers_alive)"
# No cgroup folder of any run or attempt is left (where cgroup v2 held the
# trees; supervisor/cgroup.h): those of the SIGKILLed supervisors went at
# the next start.
for cg in $(q $DB "select cgroup from runs where cgroup != '' union all
		select cgroup from attempts where cgroup != ''"); do
	[ ! -e "$cg" ] || fail "cgroup $cg left behind"
done
echo "chaos: $(q $DB "select count(*) from runs where cgroup != ''") runs held their trees in cgroups, none left"
"$TV_SUPERVISOR" status $DB --json >status.json || fail "status failed"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["totals"]["done"] == 8 and all(j["state"] == "done" for j in s["jobs"]), s["totals"]
' status.json || fail "status does not show all done: $(cat status.json)"
echo "ok"
