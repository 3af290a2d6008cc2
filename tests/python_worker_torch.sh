#!/bin/sh
# Issue 10, users' own PyTorch code: `tickervisor run CONFIG --worker
# examples/python_worker_torch.py` (clients/python/tickervisor_worker.py
# with torch)
# 1. trains the sample tickers: done, models recorded with their checksums,
#    out-of-sample results, heartbeats carrying the worker's memory;
# 2. over budget.rss at batch B it is killed, halved, and fits at B/2;
# 3. a run killed outright (supervisor and worker, SIGKILL) is run again:
#    the ticker resumes from its last checkpoint, not from episode 0, and
#    the final weights equal those of a run that was never stopped.
# Skipped where Debian's python3-torch is not installed.
. "$TV_SOURCE_ROOT/tests/lib.sh"
/usr/bin/python3 -c "import torch, numpy, msgpack" 2>/dev/null ||
	skip "Debian's python3-torch, python3-numpy and python3-msgpack are needed (tests/install-deps.sh)"
cd "$T"
PYW="$TV_SOURCE_ROOT/examples/python_worker_torch.py"
write_config run.ini '[budget]\nrss = 1GiB\npoll_ms = 20'
# Importing torch comes before the first frame and takes seconds (tens of
# seconds on a loaded machine): more than the 20 s hang_timeout of the
# tests' configuration.
sed -i 's/^hang_timeout = .*/hang_timeout = 180/' run.ini
# 1. The sample tickers.
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,IBM --set rewts.episodes_per_chunk=20 \
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
    assert days > 100 and acts == days, (t, days, acts, trades)
n = db.execute("select count(*) from mem_samples where bytes_activations > 0").fetchone()[0]
assert n > 0, "no heartbeat accounting in mem_samples"
peak = db.execute("select min(peak_rss) from attempts").fetchone()[0]
assert peak > 50 << 20, peak  # an interpreter with torch loaded
loss = db.execute("select count(*) from loss_samples where loss > 0").fetchone()[0]
assert loss == 60, loss
PY

# 2. Halving: a step holds a few batch x hidden float32 tensors: about
#    280 MiB private RSS at 2048 with hidden 4000, 190 MiB at 1024.
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG --set budget.rss=235MiB \
	--set rewts.hidden=4000 --set rewts.batch_size=2048 --set rewts.episodes_per_chunk=3 \
	--set rewts.min_batch_size=256 --set rewts.buffer_size=4096 --set run.out_dir=h --db h.db --worker "$PYW" >h.out 2>&1 ||
	fail "halving run: $(tail -n 20 h.out)"
expect_eq "halving: attempts" "$(q h.db "select group_concat(batch_size||':'||exit_kind, ' ') from attempts")" \
	"2048:over-budget 1024:done"
expect_eq "halving: batch that fit" "$(q h.db "select fit_batch_size from jobs")" 1024

# 3. A killed run resumes, against a run that was not stopped.
RS="--set run.tickers=MSFT --set rewts.episodes_per_chunk=200 --set rewts.hidden=256 --set run.checkpoint_every=1"
"$TV_SUPERVISOR" run run.ini $RS --set run.out_dir=u --db u.db --worker "$PYW" >u.out 2>&1 ||
	fail "uninterrupted run: $(tail u.out)"
"$TV_SUPERVISOR" run run.ini $RS --set run.out_dir=r --db r.db --worker "$PYW" >r1.out 2>&1 &
sup=$!
wait_for r.db "select count(*) from checkpoints where done_episodes >= 3" 120
pid=$(q r.db "select pid from attempts where ended_at is null")
[ -n "$pid" ] || fail "no running attempt"
kill -KILL "$sup" "$pid"
wait $sup 2>/dev/null || true
before=$(q r.db "select max(done_episodes) from checkpoints")
[ "$before" -ge 3 ] && [ "$before" -lt 200 ] || fail "killed at checkpoint $before of 200"
"$TV_SUPERVISOR" run run.ini $RS --set run.out_dir=r --db r.db --worker "$PYW" >r2.out 2>&1 ||
	fail "resumed run: $(tail r2.out)"
expect_eq "resume: state" "$(q r.db "select state from jobs")" done
# From a checkpoint, not from zero: at least the last one the killed run
# had recorded. It may be a later one: the worker can write a checkpoint
# whose frame the SIGKILLed supervisor never recorded, and a checkpoint
# file whose own checksum holds is resumed whatever the database last
# recorded (docs/run-state.md).
at=$(sed -n 's/^MSFT: resumed at episode \([0-9]*\) from .*MSFT\.ckpt.*/\1/p' r/workers.log | tail -n 1)
[ -n "$at" ] && [ "$at" -ge "$before" ] && [ "$at" -lt 200 ] ||
	fail "resumed at episode '$at', the killed run had recorded $before: $(grep resumed r/workers.log)"
/usr/bin/python3 - u/MSFT.model r/MSFT.model <<'PY' || fail "the resumed model differs from the uninterrupted one"
import io, sys
import torch
a, b = (torch.load(io.BytesIO(open(p, "rb").read()[:-5]), weights_only=True) for p in sys.argv[1:3])
assert a["episode"] == b["episode"] == 200, (a["episode"], b["episode"])
for k in a["model"]:
    assert torch.equal(a["model"][k], b["model"][k]), k
assert torch.equal(a["rewards"], b["rewards"])
PY
echo "ok"
