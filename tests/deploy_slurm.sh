#!/bin/sh
# deploy/slurm/tickervisor.sbatch on a real Slurm (Debian's slurmctld,
# slurmd, slurm-client, munge): a single-node cluster on localhost, started
# and stopped by this test in $T (its own munge key and socket, ports,
# state and spool), run as root without systemd or cgroups.
# 1. `sbatch --array=0-2 tickervisor.sbatch run.ini`: every task exits 0,
#    each shard has its database, the models are byte-identical to a
#    one-host run of the same tickers.
# 2. `scontrol requeue` of a running task mid-training: the requeued task
#    resumes from its checkpoint (its first attempt starts above 0).
# 3. The pre-termination signal (`scancel --batch --signal=USR1`, what
#    --signal=B:USR1@120 sends): the supervisor stops with a checkpoint,
#    the script requeues the task, which resumes and finishes with models
#    byte-identical to the one-host run.
# Skipped (77) only without the packages (tests/install-deps.sh installs
# them) or without root.
. "$TV_SOURCE_ROOT/tests/lib.sh"
for c in munged slurmctld slurmd sbatch scontrol squeue scancel sinfo; do
	command -v $c >/dev/null 2>&1 || skip "$c not installed (Debian: slurmctld slurmd slurm-client munge)"
done
[ "$(id -u)" = 0 ] || skip "needs root: slurmd runs the jobs as their submitter"
# Under the ASan setup a requeued task's restart fails in slurmd in 2 runs
# of 3 (FAILED, ExitCode 1:0, RunTime 0, not one line of the script's
# output), a launch race not yet understood; the plain build runs this test
# in CI, and the supervisor's own code runs under ASan in every other test.
case "${ASAN_OPTIONS:-}" in
*abort_on_error*) skip "the Slurm requeue test runs in the plain build (see the comment)" ;;
esac
SBATCH_SCRIPT="$TV_SOURCE_ROOT/deploy/slurm/tickervisor.sbatch"
cd "$T"
S=$T/slurm
export SLURM_CONF=$S/slurm.conf
TICKERS=GOOG,AAPL,MSFT,IBM   # shards of 3: {GOOG} {AAPL} {MSFT IBM}

slurm_down() {
	[ -f "$SLURM_CONF" ] || return 0
	scancel --full --quiet --partition=tv >/dev/null 2>&1 || true
	_n=100
	while [ $_n -gt 0 ] && [ -n "$(squeue -h -o %i 2>/dev/null || true)" ]; do
		sleep 0.1
		_n=$((_n - 1))
	done
	for f in "$S/slurmd.bgpid" "$S/slurmctld.bgpid" "$S/munge/munged.pid"; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
	_n=50
	while [ $_n -gt 0 ] && [ -n "$(pgrep -f "$S" 2>/dev/null || true)" ]; do
		sleep 0.1
		_n=$((_n - 1))
	done
	# A job step whose slurmctld is gone waits for it for ever; its
	# command line does not name $T (lib.sh's cleanup would miss it), but
	# it holds this cluster's slurmd log open.
	for p in $(pgrep -x slurmstepd 2>/dev/null || true); do
		ls -l "/proc/$p/fd" 2>/dev/null | grep -q "$S/" && kill -9 "$p" 2>/dev/null
	done
	return 0
}
slurm_logs() {
	for f in "$S"/log/*.log "$T"/slurm-*.out; do
		[ -f "$f" ] || continue
		echo "--- $f (last 30 lines)"
		tail -n 30 "$f"
	done
}
# tv_cleanup (lib.sh) reads the exit status from $?: hand it on, with
# errexit off (under set -e the `(exit $rc)` would end the trap there).
trap 'rc=$?; set +e; [ $rc -eq 0 ] || [ $rc -eq 77 ] || slurm_logs; slurm_down; (exit $rc); tv_cleanup' EXIT

# The reference: the same tickers on one host, then moved aside (the model
# file holds out_dir, so every run here uses the same out_dir).
write_config run.ini
"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS >one.out 2>&1 || fail "one-host run: $(tail one.out)"
mv out one

# The cluster.
mkdir -p "$S/munge" "$S/state" "$S/spool" "$S/log"
chmod 700 "$S/munge"
dd if=/dev/urandom of="$S/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$S/munge/munge.key"
munged --force --key-file="$S/munge/munge.key" --socket="$S/munge/munge.socket" \
	--pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log" \
	--seed-file="$S/munge/munge.seed" || fail "munged did not start"
port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000 ))
node=tv$$
host=$(hostname -s)
cat >"$SLURM_CONF" <<EOF
ClusterName=tv$$
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$S/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=30
MinJobAge=600
NodeName=$node NodeHostname=$host NodeAddr=127.0.0.1 CPUs=4 RealMemory=2000 State=UNKNOWN
PartitionName=tv Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
t0=$(date +%s.%N)
slurmctld -c -D -f "$SLURM_CONF" >"$S/log/ctld.stdout" 2>&1 &
echo $! >"$S/slurmctld.bgpid"
slurmd -D -N "$node" -f "$SLURM_CONF" >"$S/log/d.stdout" 2>&1 &
echo $! >"$S/slurmd.bgpid"
_n=600
until [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ]; do
	_n=$((_n - 1))
	[ $_n -gt 0 ] || fail "the node never became idle: $(sinfo 2>&1; cat "$S"/log/*.stdout)"
	sleep 0.1
done
t1=$(date +%s.%N)
echo "cluster up in $(python3 -c "print(round($t1 - $t0, 1))") s"

# job_field JOB FIELD: FIELD=value of one job (or array task) from scontrol.
job_field() {
	scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
# release JOB: a requeued (pending) job may start now - once the step
# daemon of its previous start has gone. Released while that one still
# tears down, slurmd can fail the new start at once (seen under ASan, where
# the old supervisor exits slowly: "FAILED, ExitCode 1:0, RunTime 0").
release() {
	raw=$(job_field "$1" JobId)
	n=0
	while pgrep -f "slurmstepd: \[$raw\." >/dev/null 2>&1 && [ $n -lt 150 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	scontrol update JobId="$1" StartTime=now || fail "scontrol update StartTime"
}
# wait_state JOB STATE SECONDS
wait_state() {
	_n=$(( $3 * 10 ))
	until [ "$(job_field "$1" JobState)" = "$2" ]; do
		_n=$((_n - 1))
		[ $_n -gt 0 ] || fail "job $1 not $2 after $3 s: $(scontrol show job "$1")"
		sleep 0.1
	done
}
submit() {
	sbatch --parsable --chdir="$T" --output="$T/slurm-%A_%a.out" --cpus-per-task=1 --mem=200M \
		--export=ALL,TICKERVISOR="$TV_SUPERVISOR" "$@"
}
same_models() {
	for t in "$@"; do
		[ -f "out/$t.model" ] || fail "$1: no out/$t.model"
		cmp "one/$t.model" "out/$t.model" || fail "$t.model differs from the one-host run"
	done
}

# 1. The whole array.
J=$(submit --array=0-2 "$SBATCH_SCRIPT" "$T/run.ini" --set run.tickers=$TICKERS) || fail "sbatch failed"
for i in 0 1 2; do
	wait_state "${J}_$i" COMPLETED 120
	[ $i -lt 2 ] || echo "array of 3 tasks done in $(python3 -c "import time; print(round(time.time() - $t1, 1))") s"
	expect_eq "exit code of task $i" "$(job_field "${J}_$i" ExitCode)" "0:0"
	[ -f out/tickervisor.shard-$i-of-3.db ] || fail "no database of shard $i: $(ls out)"
done
same_models GOOG AAPL MSFT IBM
"$TV_SUPERVISOR" status out/tickervisor.shard-*-of-3.db >status.txt || fail "status: $(cat status.txt)"
grep -q "^all 3 databases (3 read): 4 jobs: 0 running, 0 pending, 4 done, 0 failed" status.txt ||
	fail "status over the shards: $(cat status.txt)"
mv out array1

# 2. and 3. One task (shard 2: MSFT and IBM), slowed down, requeued by
# hand, then warned before its time limit.
DB=out/tickervisor.shard-2-of-3.db
J=$(TV_FAULT_SLOW_MS=100 submit --array=2 "$SBATCH_SCRIPT" "$T/run.ini" --set run.tickers=$TICKERS \
	--shards 3) || fail "sbatch failed"
T2=${J}_2
wait_state "$T2" RUNNING 60
wait_for $DB "select count(*) = 2 from jobs where state='running' and done_episodes >= 3 and ckpt_id is not null" 60
scontrol requeue "$T2" || fail "scontrol requeue $T2"
wait_state "$T2" PENDING 60
expect_eq "restarts after the requeue" "$(job_field "$T2" Restarts)" 1
# A requeued job may start only after BeginTime (about now + 120 s).
release "$T2"
wait_state "$T2" RUNNING 60
wait_for $DB "select count(*) from runs where id = 2" 30
wait_for $DB "select count(*) from attempts where run_id = 2 and start_episodes > 0" 30
expect_eq "open attempts of the requeued run 1" \
	"$(q $DB "select count(*) from attempts where run_id = 1 and ended_at is null")" 0
# Progress did not restart at 0: every ticker's first attempt after the
# requeue started at or above 3 episodes.
low=$(q $DB "select count(*) from attempts a where run_id = 2 and start_episodes < 3 and
	id = (select min(id) from attempts b where b.job_id = a.job_id and b.run_id = 2)")
expect_eq "attempts of the requeued task starting below their checkpoint" "$low" 0

# 3. The warning before the time limit, once the task is well into run 2.
wait_for $DB "select count(*) = 2 from jobs j where state='running' and done_episodes >=
	(select max(start_episodes) from attempts a where a.job_id = j.id) + 3" 60
scancel --batch --signal=USR1 "$T2" || fail "scancel --signal=USR1"
wait_state "$T2" PENDING 60
expect_eq "restarts after the warning" "$(job_field "$T2" Restarts)" 2
grep -q "User defined signal 1: stopping" "$T/slurm-${J}_2.out" || fail "the supervisor got no USR1"
grep -q "stopped on the time-limit warning: requeueing" "$T/slurm-${J}_2.out" ||
	fail "the script did not requeue itself"
expect_eq "interrupted attempts of run 2 (exit 10, a checkpoint each)" \
	"$(q $DB "select count(*) from attempts where run_id = 2 and exit_kind = 'interrupted' and exit_code = 10")" 2
release "$T2"
wait_state "$T2" COMPLETED 120
expect_eq "exit code of the resumed task" "$(job_field "$T2" ExitCode)" "0:0"
expect_eq "done in shard 2" "$(q $DB "select group_concat(ticker) from (select ticker from jobs where state='done' order by ticker)")" "IBM,MSFT"
resumed=$(q $DB "select count(*) from attempts where run_id = 3 and start_episodes > 0")
expect_eq "attempts of run 3 resumed from the warning's checkpoint" "$resumed" 2
same_models MSFT IBM
slurm_down
echo "ok"
