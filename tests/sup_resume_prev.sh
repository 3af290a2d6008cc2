#!/bin/sh
# Which checkpoint an attempt resumes from is the supervisor's decision
# (issue 7; docs/protocol.md, resume_path in supervisor/run.c): a torn
# TICKER.ckpt (a write cut short) with a good TICKER.ckpt.prev beside it
# resumes from the .prev, the attempt records it, and the model is
# byte-identical to an undisturbed run's. The worker itself resumes only
# the file it is given (tests/worker_e2e.sh).
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
ONE="--set run.tickers=IBM"

"$TV_SUPERVISOR" run run.ini $ONE --db ref.db --set run.out_dir=ref >ref.out 2>&1 ||
	fail "the undisturbed run failed"

# Stopped after a few episodes: checkpoint_every 1, so PATH.prev exists.
TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini $ONE --db p.db --set run.out_dir=out >p1.out 2>&1 &
sup=$!
wait_for p.db "select count(*) from jobs where done_episodes >= 3" 60
kill -INT $sup
wait $sup || fail "the stopped run failed"
ck=$(q p.db "select c.path from jobs j join checkpoints c on c.id = j.ckpt_id")
[ -n "$ck" ] && [ -s "$ck" ] && [ -s "$ck.prev" ] || fail "no checkpoint and .prev: $(ls -l out)"
size=$(wc -c <"$ck")
truncate -s $((size / 2)) "$ck"

"$TV_SUPERVISOR" run run.ini $ONE --db p.db --set run.out_dir=out >p2.out 2>&1 || fail "the rerun failed"
grep -q "resuming from $ck.prev" p2.out || fail "the rerun did not resume from $ck.prev: $(cat p2.out)"
q p.db "select resume from attempts where run_id = 2" | grep -q "^resuming from $ck.prev" ||
	fail "the attempt does not record its .prev: $(q p.db 'select id, run_id, resume from attempts')"
if grep -q "started over" p2.out; then fail "the rerun started over"; fi
expect_eq "done" "$(q p.db "select state from jobs")" done
cmp ref/IBM.model out/IBM.model || fail "resumed from .prev, the model differs from the undisturbed run's"
echo "ok"
