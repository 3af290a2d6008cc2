#!/bin/sh
# Issue 10, users' own workers: `tickervisor run CONFIG --worker
# examples/python_worker.py` (clients/python/tickervisor_worker.py, numpy)
# 1. trains the sample tickers: done, models recorded with their checksums,
#    out-of-sample results, heartbeats carrying the measured RSS;
# 2. over budget.rss at batch B it is killed, halved, and fits at B/2;
# 3. SIGTERM to a worker mid-run: it checkpoints and exits 10, the next
#    attempt resumes from that episode, and the final weights equal those
#    of an uninterrupted run;
# 4. bad input: a CSV with a broken close is failed, not retried, with file,
#    line and field in the reason.
. "$TV_SOURCE_ROOT/tests/lib.sh"
/usr/bin/python3 -c "import numpy, msgpack" 2>/dev/null ||
	skip "Debian's python3-numpy and python3-msgpack are needed (tests/install-deps.sh)"
cd "$T"
PYW="$TV_SOURCE_ROOT/examples/python_worker.py"
# poll_ms 20: the numpy worker trains a ticker in ~0.1 s, and the samples
# that carry its heartbeat's accounting are taken at each poll.
write_config run.ini '[budget]\nrss = 400MiB\npoll_ms = 20'
# 1. The sample tickers.
# 30 episodes: long enough for heartbeats to reach the memory samples.
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,IBM --set rewts.episodes_per_chunk=30 \
	--worker "$PYW" >a.out 2>&1 ||
	fail "run: $(tail a.out)"
DB=out/tickervisor.db
expect_eq "done" "$(q $DB "select group_concat(x, ' ') from (select ticker||':'||state||':'||fit_batch_size x from jobs order by ticker)")" \
	"AAPL:done:32 GOOG:done:32 IBM:done:32"
python3 - $DB <<'PY' || fail "results"
import sqlite3, sys, zlib
db = sqlite3.connect(sys.argv[1])
rows = db.execute("select j.ticker, r.model_path, r.model_checksum, r.test_days, r.trades,"
                  " r.actions_short + r.actions_hold + r.actions_long from results r"
                  " join jobs j on j.id = r.job_id").fetchall()
assert len(rows) == 3, rows
for t, path, crc, days, trades, acts in rows:
    data = open(path, "rb").read()
    assert data[-5] == 0xce and int.from_bytes(data[-4:], "big") == crc, (t, path)
    assert zlib.crc32(data[:-5]) == crc, (t, path)
    assert days > 100 and acts == days and trades > 0, (t, days, acts, trades)
# Heartbeats: the worker's own memory accounting reached the samples.
n = db.execute("select count(*) from mem_samples where bytes_activations > 0").fetchone()[0]
assert n > 0, "no heartbeat accounting in mem_samples"
loss = db.execute("select count(*) from loss_samples where loss > 0").fetchone()[0]
assert loss == 90, loss
PY

# 2. Halving: activations are 3 x batch x hidden doubles: 192 MiB at 2048
#    with hidden 4096, 96 MiB at 1024; the interpreter and numpy ~30 MiB.
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG --set budget.rss=160MiB \
	--set budget.poll_ms=20 --set rewts.hidden=4096 --set rewts.batch_size=2048 \
	--set rewts.min_batch_size=256 --set rewts.buffer_size=4096 --set run.out_dir=h --db h.db --worker "$PYW" >h.out 2>&1 ||
	fail "halving run: $(tail -n 20 h.out)"
expect_eq "halving: attempts" "$(q h.db "select group_concat(batch_size||':'||exit_kind, ' ') from attempts")" \
	"2048:over-budget 1024:done"
expect_eq "halving: batch that fit" "$(q h.db "select fit_batch_size from jobs")" 1024

# 3. Resume after SIGTERM, against an uninterrupted run.
# 150 episodes (a few seconds): the SIGTERM lands mid-training, not while the
# worker is already exiting (Python restores the default action then).
RS="--set run.tickers=MSFT --set rewts.episodes_per_chunk=150 --set rewts.hidden=256 --set run.checkpoint_every=1"
"$TV_SUPERVISOR" run run.ini $RS --set run.out_dir=u --db u.db --worker "$PYW" >u.out 2>&1 ||
	fail "uninterrupted run: $(tail u.out)"
"$TV_SUPERVISOR" run run.ini $RS --set run.out_dir=r --db r.db --worker "$PYW" >r.out 2>&1 &
sup=$!
wait_for r.db "select count(*) from checkpoints where done_episodes >= 2" 60
pid=$(q r.db "select pid from attempts where ended_at is null")
[ -n "$pid" ] || fail "no running attempt"
# A SIGTERM the supervisor did not send: the worker checkpoints and exits
# 10 unasked, which the supervisor charges as a crash (issue 7) and retries
# from that checkpoint at the same batch size.
kill -TERM "$pid"
wait $sup || fail "resumed run: $(tail r.out)"
expect_eq "resume: attempts" "$(q r.db "select group_concat(exit_kind, ' ') from attempts")" "crash done"
start=$(q r.db "select start_episodes from attempts where id = 2")
[ "$start" -ge 2 ] && [ "$start" -lt 150 ] || fail "attempt 2 started at episode $start"
grep -q "resuming from .*MSFT.ckpt" r.out || fail "no resume line: $(cat r.out)"
/usr/bin/python3 - u/MSFT.model r/MSFT.model <<'PY' || fail "the resumed model differs from the uninterrupted one"
import sys
import numpy as np
import io
a, b = (np.load(io.BytesIO(open(p, "rb").read()[:-5])) for p in sys.argv[1:3])
for k in ("W1", "b1", "W2", "b2", "rewards"):
    assert np.array_equal(a[k], b[k]), k
PY

# 4. Bad input.
mkdir bad
head -n 300 "$DATA/GOOG.csv" >bad/BAD.csv
sed -i '120s/,[0-9.]*,\([0-9]*\)$/,oops,\1/' bad/BAD.csv
set +e
"$TV_SUPERVISOR" run run.ini --set run.data_dir="$T/bad" --set run.out_dir=b --db b.db \
	--worker "$PYW" >b.out 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a bad CSV should fail the run"
expect_eq "bad input" "$(q b.db "select state||' '||attempts from jobs")" "failed 1"
q b.db "select last_reason from jobs" | grep -q "BAD.csv:120: field 'close': not a number" ||
	fail "reason: $(q b.db "select last_reason from jobs")"
echo "ok"
