#!/bin/sh
# SIGINT to the supervisor: no new worker starts, running workers are
# asked to checkpoint and exit (10), the supervisor exits 0 with every
# attempt closed as interrupted (not charged), the checkpoint each worker
# writes on its way out recorded (the workers' own cadence is set far
# apart, so that checkpoint is the stop's); running it again resumes from
# the checkpoints and finishes.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
DB=out/tickervisor.db

TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,MSFT,IBM --set run.checkpoint_every=1000 >run1.out 2>&1 &
sup=$!
# Two workers running with progress checkpointed.
wait_for $DB "select count(*) >= 2 from jobs where state='running' and done_episodes > 0" 60
t_signal=$(date +%s.%N)
kill -INT "$sup"
set +e
wait "$sup"
rc=$?
set -e
expect_eq "exit status after SIGINT" "$rc" 0
grep -q "stopped" run1.out || fail "no 'stopped' summary"
expect_eq "open attempts" "$(q $DB "select count(*) from attempts where ended_at is null")" 0
nint=$(q $DB "select count(*) from attempts where exit_kind='interrupted' and charged=0 and exit_code=10")
[ "$nint" -ge 1 ] || fail "no attempt ended interrupted (exit 10): $(q $DB 'select * from attempts')"
expect_eq "running jobs" "$(q $DB "select count(*) from jobs where state='running'")" 0
left=$(q $DB "select count(*) from jobs where state='pending'")
[ "$left" -ge 1 ] || fail "nothing left to resume"
# Nothing was started after the signal (by the clock the database keeps),
# and no worker is left.
expect_eq "attempts started after the signal" \
	"$(q $DB "select count(*) from attempts where run_id = 1 and started_at > $t_signal")" 0
[ -z "$(workers_alive)" ] || fail "workers left: $(workers_alive)"
# The checkpoint each stopped worker wrote on its way out is the one
# recorded: the file at each paused job's checkpoint path carries the
# recorded CRC (an older row would name the file's earlier contents).
python3 - $DB <<'PY' || fail "the recorded checkpoints are not the files the workers left"
import sqlite3, sys, zlib
db = sqlite3.connect(sys.argv[1])
rows = db.execute("select j.ticker, c.path, c.checksum, c.done_episodes from jobs j"
                  " join checkpoints c on c.id = j.ckpt_id where j.state = 'pending'").fetchall()
assert rows, "no paused job has a checkpoint"
for t, path, crc, done in rows:
    data = open(path, "rb").read()
    got = zlib.crc32(data[:-5])
    assert data[-5] == 0xce and got == crc, (t, path, "recorded", crc, done, "file", got)
PY
ckpt_before=$(q $DB "select group_concat(ticker||'='||done_episodes) from jobs where state='pending' and done_episodes > 0")
[ -n "$ckpt_before" ] || fail "no checkpointed progress to resume from"

"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,MSFT,IBM >run2.out 2>&1 || fail "rerun failed: $(tail run2.out)"
expect_eq "done jobs after rerun" "$(q $DB "select count(*) from jobs where state='done'")" 4
resumed=$(q $DB "select count(*) from attempts where run_id=2 and start_episodes > 0")
[ "$resumed" -ge 1 ] || fail "no attempt resumed from a checkpoint"
grep -q "resuming from" run2.out || fail "no 'resuming from' in the rerun's log"
echo "ok"
