#!/bin/sh
# The attempt life cycle end to end (issues 7 and 14): timing of the hang
# kill, back-off and the respawn floor, --retry-failed with the charged
# attempts reset, the soft line (SIGUSR1 and a checkpoint, no kill), and
# no process of a worker's tree left after SIGINT, a second signal or the
# supervisor's own SIGKILL.
. "$TV_SOURCE_ROOT/tests/lib.sh"
: "${TV_HOSTILE_WORKER:?TV_HOSTILE_WORKER is not set (run through meson test)}"
cd "$T"
write_config run.ini
sed -i 's/^hang_timeout = 20/hang_timeout = 2/; s/^backoff = 0.1/backoff = 0.5/' run.ini

# secs LINE: the log line's time of day in seconds (HH:MM:SS.mmm).
secs() {
	echo "$1" | sed -n 's/^[0-9-]*T\([0-9]*\):\([0-9]*\):\([0-9.]*\) .*/\1 \2 \3/p' |
		awk '{ printf "%.3f\n", $1 * 3600 + $2 * 60 + $3 }'
}
# within LO X HI: LO <= X <= HI (decimals).
within() {
	awk -v lo="$1" -v x="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'
}

# --- A hung worker is killed within [hang_timeout, hang_timeout + 2 s] of
# its last frame (hello). max_attempts 1: it fails at once.
set +e
HOSTILE_MODE=hang timeout 60 "$TV_SUPERVISOR" run run.ini --worker "$TV_HOSTILE_WORKER" \
	--db hang.db --set run.out_dir=out-hang --set run.tickers=GOOG --set run.max_attempts=1 \
	>hang.out 2>&1
set -e
t_hello=$(secs "$(grep -m1 ' hello ' hang.out)")
t_kill=$(secs "$(grep -m1 'no heartbeat for 2 s.*SIGKILL' hang.out)")
[ -n "$t_hello" ] && [ -n "$t_kill" ] || fail "hang: no hello or kill line: $(cat hang.out)"
gap=$(awk -v a="$t_hello" -v b="$t_kill" 'BEGIN { printf "%.3f", b - a }')
echo "hang: killed $gap s after the last frame (hang_timeout 2 s)"
within 2.0 "$gap" 4.0 || fail "hang: killed $gap s after the last frame, not in [2, 4]"
expect_eq "hang: attempt" "$(q hang.db "select exit_kind||':'||term_signal from attempts")" "hang:9"

# --- Back-off and the respawn floor: a worker that always exits 0 without
# a result, max_attempts 3, backoff 0.5 s: the second start waits >= 0.5 s
# after the first exit and the third >= 1 s after the second; two starts of
# the ticker are >= 1 s apart (POLICY_MIN_RESPAWN_S).
set +e
HOSTILE_MODE=exit0 timeout 60 "$TV_SUPERVISOR" run run.ini --worker "$TV_HOSTILE_WORKER" \
	--db backoff.db --set run.out_dir=out-backoff --set run.tickers=GOOG >backoff.out 2>&1
rc=$?
set -e
expect_eq "backoff: exit status" "$rc" 1
expect_eq "backoff: attempts" "$(q backoff.db "select group_concat(exit_kind||':'||charged, ' ') from attempts")" \
	"protocol-error:1 protocol-error:1 protocol-error:1"
gaps=$(q backoff.db "select printf('%.3f %.3f %.3f %.3f', b.started_at - a.ended_at, c.started_at - b.ended_at,
	b.started_at - a.started_at, c.started_at - b.started_at)
	from attempts a, attempts b, attempts c where a.id = 1 and b.id = 2 and c.id = 3")
echo "backoff: exit->start $(echo $gaps | cut -d' ' -f1,2) s, start->start $(echo $gaps | cut -d' ' -f3,4) s"
set -- $gaps
within 0.49 "$1" 3.0 || fail "backoff: second start $1 s after the first exit (want >= 0.5)"
within 0.99 "$2" 3.5 || fail "backoff: third start $2 s after the second exit (want >= 1.0)"
within 0.99 "$3" 3.5 || fail "backoff: starts 1 and 2 are $3 s apart (respawn floor 1 s)"
within 0.99 "$4" 3.5 || fail "backoff: starts 2 and 3 are $4 s apart (respawn floor 1 s)"

# --- --retry-failed: a ticker failed for good (2 charged crashes: the
# worker exits 10 unasked every time) stays
# failed on a plain rerun; with --retry-failed it gets max_attempts fresh
# attempts (the charged count was reset: with the fault still on, 2 more
# attempts, not 0); then it finishes. AAPL, done in the first run, is
# never run again (--retry-failed is not --retrain).
export HOSTILE_TICKER=GOOG
RF="--worker $TV_HOSTILE_WORKER --db retry.db --set run.out_dir=out-retry --set run.tickers=GOOG,AAPL
 --set run.max_attempts=2"
set +e
HOSTILE_MODE=exit10 "$TV_SUPERVISOR" run run.ini $RF >retry1.out 2>&1
rc1=$?
HOSTILE_MODE=exit10 "$TV_SUPERVISOR" run run.ini $RF >retry2.out 2>&1
rc2=$?
HOSTILE_MODE=exit10 "$TV_SUPERVISOR" run run.ini $RF --retry-failed >retry3.out 2>&1
rc3=$?
set -e
expect_eq "retry: first run's status" "$rc1" 1
expect_eq "retry: after run 1" "$(q retry.db "select group_concat(ticker||':'||state||':'||charged_attempts, ' ')
	from (select * from jobs order by ticker)")" "AAPL:done:0 GOOG:failed:2"
expect_eq "retry: plain rerun's status" "$rc2" 1
expect_eq "retry: attempts of the plain rerun" "$(q retry.db "select count(*) from attempts where run_id = 2")" 0
expect_eq "retry: --retry-failed's status" "$rc3" 1
expect_eq "retry: fresh attempts with --retry-failed" \
	"$(q retry.db "select group_concat(exit_kind||':'||charged, ' ') from attempts where run_id = 3")" "crash:1 crash:1"
"$TV_SUPERVISOR" run run.ini $RF --retry-failed >retry4.out 2>&1 || fail "retry: final run failed"
expect_eq "retry: final state" "$(q retry.db "select group_concat(ticker||':'||state||':'||charged_attempts, ' ')
	from (select * from jobs order by ticker)")" "AAPL:done:0 GOOG:done:0"
[ -s out-retry/GOOG.model ] || fail "retry: no model"
expect_eq "retry: runs in which AAPL had an attempt" "$(q retry.db "select group_concat(distinct a.run_id)
	from attempts a join jobs j on j.id = a.job_id where j.ticker = 'AAPL'")" 1
unset HOSTILE_TICKER

# --- The soft line: budget.rss 1.5 x the worker's peak with soft_fraction
# 0.3 (crossed early, while it trains): above the line it gets SIGUSR1 and writes a checkpoint, it is not
# killed. Periodic checkpoints are off (checkpoint_every 1000), so the
# extra checkpoint is the SIGUSR1's.
SOFT="--set run.tickers=MSFT --set run.checkpoint_every=1000"
"$TV_SUPERVISOR" run run.ini $SOFT --db cal.db --set run.out_dir=out-cal >cal.out 2>&1 ||
	fail "soft: calibration run failed"
peak=$(q cal.db "select peak_rss from attempts where id = 1")
ck0=$(q cal.db "select count(*) from checkpoints")
[ "$peak" -gt 0 ] || fail "soft: no peak measured"
budget=$((peak * 3 / 2))
TV_FAULT_SLOW_MS=20 "$TV_SUPERVISOR" run run.ini $SOFT --db soft.db --set run.out_dir=out-soft \
	--set budget.rss=$budget --set budget.soft_fraction=0.3 >soft.out 2>&1 || fail "soft: run failed"
grep -q "SIGUSR1 (checkpoint now)" soft.out || fail "soft: no SIGUSR1: $(cat soft.out)"
expect_eq "soft: one attempt, done, not killed" \
	"$(q soft.db "select group_concat(exit_kind||':'||coalesce(term_signal, 0)||':'||charged) from attempts")" "done:0:0"
ck1=$(q soft.db "select count(*) from checkpoints")
[ "$ck1" -gt "$ck0" ] || fail "soft: $ck1 checkpoints, as many as without SIGUSR1 ($ck0)"
cmp out-cal/MSFT.model out-soft/MSFT.model || fail "soft: the checkpoint changed the model"

# --- No orphan after one SIGINT: the SIGTERM goes to the worker's whole
# group, so its children (which hold memory and do not ignore it) go too.
HOSTILE_MODE=forkmem HOSTILE_MB=8 "$TV_SUPERVISOR" run run.ini --worker "$TV_HOSTILE_WORKER" \
	--db int.db --set run.out_dir=out-int --set run.tickers=GOOG >int.out 2>&1 &
sup=$!
wait_for int.db "select count(*) from attempts where ended_at is null" 30
sleep 0.5
[ "$(workers_alive | wc -l)" -ge 3 ] || fail "int: the worker and its two children are not running"
kill -INT $sup
set +e
wait $sup
rc=$?
set -e
expect_eq "int: exit status after SIGINT" "$rc" 0
expect_eq "int: attempt" "$(q int.db "select exit_kind||':'||charged from attempts")" "interrupted:0"
[ -z "$(workers_alive)" ] || fail "int: left after SIGINT: $(workers_alive)"

# --- No orphan: a worker whose children share its group and ignore
# SIGTERM. First SIGINT: they are asked (and ignore it); the second kills
# the whole group: nothing is left when the supervisor exits 130.
HOSTILE_MODE=tree "$TV_SUPERVISOR" run run.ini --worker "$TV_HOSTILE_WORKER" --db tree.db \
	--set run.out_dir=out-tree --set run.tickers=GOOG >tree.out 2>&1 &
sup=$!
wait_for tree.db "select count(*) from attempts where ended_at is null" 30
sleep 0.5
[ "$(workers_alive | wc -l)" -ge 3 ] || fail "tree: the worker and its two children are not running"
kill -INT $sup
sleep 1
kill -0 $sup 2>/dev/null || fail "tree: the supervisor left after one SIGINT with a worker still running"
kill -INT $sup
set +e
wait $sup
rc=$?
set -e
expect_eq "tree: exit status after the second signal" "$rc" 130
[ -z "$(workers_alive)" ] || fail "tree: left after the second signal: $(workers_alive)"

# The supervisor itself SIGKILLed: its workers' groups are killed when the
# next supervisor starts on the database (before it starts anything).
HOSTILE_MODE=tree "$TV_SUPERVISOR" run run.ini --worker "$TV_HOSTILE_WORKER" --db tree2.db \
	--set run.out_dir=out-tree2 --set run.tickers=GOOG >tree2.out 2>&1 &
sup=$!
wait_for tree2.db "select count(*) from attempts where ended_at is null" 30
sleep 0.5
kill -9 $sup
wait $sup 2>/dev/null || true
left=$(workers_alive | wc -l)
echo "supervisor SIGKILLed: $left processes of its worker's group still alive"
"$TV_SUPERVISOR" run run.ini --worker "$TV_HOSTILE_WORKER" --db tree2.db \
	--set run.out_dir=out-tree2 --set run.tickers=GOOG >tree3.out 2>&1 || fail "tree: restart failed"
# Where cgroup v2 is writable the run's cgroup holds them (tests/sup_cgroup.sh),
# else the recorded process group.
grep -Eq "killed 1 worker process group left by a supervisor that died|killed [1-9][0-9]* process(es)? left in the cgroups of 1 earlier run" tree3.out ||
	fail "tree: the restart did not report the leftover group or cgroup: $(cat tree3.out)"
[ -z "$(workers_alive)" ] || fail "tree: left after the restart: $(workers_alive)"
expect_eq "tree: done after the restart" "$(q tree2.db "select state from jobs")" done

# --- Starting over is never silent: stopped with a checkpoint, both the
# checkpoint and its .prev damaged, the rerun starts from scratch and its
# attempt's reason in the database says so and why.
TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini --db over.db --set run.out_dir=out-over \
	--set run.tickers=IBM --set run.checkpoint_every=1 >over1.out 2>&1 &
sup=$!
wait_for over.db "select count(*) from jobs where done_episodes >= 3" 60
kill -INT $sup
wait $sup || fail "over: the stopped run failed"
ck=$(q over.db "select c.path from jobs j join checkpoints c on c.id = j.ckpt_id")
[ -n "$ck" ] || fail "over: no checkpoint recorded"
for f in "$ck" "$ck.prev"; do
	if [ -f "$f" ]; then printf 'damaged' >"$f"; fi
done
"$TV_SUPERVISOR" run run.ini --db over.db --set run.out_dir=out-over --set run.tickers=IBM \
	>over2.out 2>&1 || fail "over: rerun failed"
q over.db "select reason from attempts where run_id = 2" | grep -q "started over: checkpoint .*IBM.ckpt is damaged" ||
	fail "over: no recorded reason: $(q over.db 'select id, run_id, reason from attempts')"
if grep -q "resuming from" over2.out; then fail "over: the rerun resumed from a damaged checkpoint"; fi
grep -q "started over: checkpoint" over2.out || fail "over: no log line for starting over"
echo "ok"
