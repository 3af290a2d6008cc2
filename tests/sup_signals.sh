#!/bin/sh
# The supervisor's other signals (issue 7 section 5, issue 9):
# - SIGHUP (the terminal closed) is a stop like SIGTERM: workers checkpoint
#   and exit 10, the supervisor exits 0;
# - SIGUSR2 does not kill the supervisor nor its workers;
# - SIGUSR1 (Slurm's warning before the time limit, --signal=B:USR1@120)
#   stops cleanly with a checkpoint, and a repeated USR1 never turns into
#   the kill a second SIGTERM is; the next run resumes from the checkpoint.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
sed -i 's/^parallel = 2/parallel = 1/' run.ini
DB=out/tickervisor.db

# stop_with SIGNAL LOG: starts a run, waits for checkpointed progress,
# sends SIGNAL (twice when the name ends in "x2") and checks a clean stop.
# The signal must find a worker training: a ticker with two episodes or
# more still to go (at 30 ms a step, seconds of work), not one about to end
# (its worker exits 0, done, and the next ticker has no worker yet).
stop_with() {
	sig=${1%x2}
	TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL >"$2" 2>&1 &
	sup=$!
	# This run's worker has reported a checkpoint (the database's running
	# row can be the previous run's, and a worker signalled before its
	# handlers are in place dies of the signal instead of stopping).
	_i=0
	until grep -q " checkpoint chunk" "$2"; do
		_i=$((_i + 1))
		[ "$_i" -le 600 ] || fail "$1: no checkpoint in this run: $(tail "$2")"
		sleep 0.1
	done
	wait_for $DB "select count(*) from jobs where state='running' and done_episodes > 0 and ckpt_id is not null and done_episodes + 2 <= total_episodes" 60
	kill -"$sig" "$sup"
	[ "$sig" = "$1" ] || kill -"$sig" "$sup"
	set +e
	wait "$sup"
	rc=$?
	set -e
	expect_eq "exit status after $1" "$rc" 0
	grep -q "stopped" "$2" || fail "$1: no 'stopped' summary: $(tail "$2")"
	# This run's attempts (counting all runs' interrupted attempts before and
	# only exit 10 after compared two different things).
	stopped=$(q $DB "select count(*) from attempts where run_id = (select max(id) from runs) and exit_kind='interrupted' and exit_code=10")
	[ "$stopped" -ge 1 ] || fail "$1: no attempt ended interrupted (exit 10): $(q $DB "select id,run_id,exit_kind,exit_code,reason from attempts")"
	expect_eq "$1: open attempts" "$(q $DB "select count(*) from attempts where ended_at is null")" 0
	[ -z "$(workers_alive)" ] || fail "$1: processes left: $(workers_alive)"
}

stop_with HUP hup.out
grep -q "Hangup: stopping" hup.out || fail "HUP: $(cat hup.out)"

# USR2: logged, nothing stops.
TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL >usr2.out 2>&1 &
sup=$!
wait_for $DB "select count(*) from jobs where state='running' and done_episodes > 0" 60
kill -USR2 "$sup"
sleep 1
kill -0 "$sup" 2>/dev/null || fail "SIGUSR2 killed the supervisor: $(tail usr2.out)"
grep -q "User defined signal 2: ignored" usr2.out || fail "USR2 not logged: $(cat usr2.out)"
expect_eq "running after USR2" "$(q $DB "select count(*) from jobs where state='running'")" 1
kill -TERM "$sup"
wait "$sup" || fail "SIGTERM after USR2: exit $?"

# USR1 twice: one clean stop, the second ignored (exit 0, not 130).
stop_with USR1x2 usr1.out
grep -q "User defined signal 1: stopping" usr1.out || fail "USR1: $(cat usr1.out)"
ck=$(q $DB "select count(*) from jobs where state='pending' and done_episodes > 0 and ckpt_id is not null")
[ "$ck" -ge 1 ] || fail "USR1 left no checkpoint: $(q $DB 'select ticker,state,done_episodes,ckpt_id from jobs')"
# The checkpoints the next run resumes from: pending tickers' only (a done
# ticker's files are removed on purpose, run.keep_checkpoints = 0).
for f in $(q $DB "select c.path from jobs j join checkpoints c on c.id = j.ckpt_id where j.state = 'pending'"); do
	[ -s "$f" ] || fail "checkpoint $f missing"
done

# The next run resumes from there and finishes.
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL >resume.out 2>&1 || fail "resume: $(tail resume.out)"
expect_eq "done after resume" "$(q $DB "select count(*) from jobs where state='done'")" 2
last=$(q $DB "select max(id) from runs")
resumed=$(q $DB "select count(*) from attempts where run_id=$last and start_episodes > 0")
[ "$resumed" -ge 1 ] || fail "no attempt resumed from a checkpoint"
echo "ok"
