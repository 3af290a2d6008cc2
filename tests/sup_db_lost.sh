#!/bin/sh
# issue 13: a checkpoint the database never recorded still resumes. The
# supervisor is killed mid-run and its database deleted: the rerun, on a
# fresh database, finds each ticker's OUT/TICKER.ckpt, checks its own
# checksum (the worker checks ticker, configuration and data fingerprint),
# resumes from it - not from episode 0 - records that in attempts.resume,
# corrects the database with a checkpoint row, and every model is
# byte-identical to an undisturbed run's. (Before: "started over".)
# Then --retrain on the same folder starts from scratch: the old
# checkpoints are removed, not found again.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
TICKERS=GOOG,AAPL

"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --set run.out_dir=ref --db ref.db \
	>ref.out 2>&1 || fail "reference run failed"

DB=out/tickervisor.db
TV_FAULT_SLOW_MS=25 "$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS >run1.out 2>&1 &
sup=$!
wait_for $DB "select count(*) = 2 from jobs where state='running' and done_episodes >= 6" 90
kill -9 "$sup"
wait "$sup" 2>/dev/null || true
no_worker_left
# (Killed between the worker's two renames, only the .prev may be there.)
for t in GOOG AAPL; do
	[ -f out/$t.ckpt ] || [ -f out/$t.ckpt.prev ] || fail "no $t checkpoint on disk: $(ls out)"
done

# The database is lost: nothing records a checkpoint now.
rm -f $DB $DB-wal $DB-shm
"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS >run2.out 2>&1 ||
	fail "rerun failed: $(tail -5 run2.out)"
expect_eq "done" "$(q $DB "select count(*) from jobs where state='done'")" 2
if grep -q "started over\|starting over" run2.out; then
	fail "unrecorded checkpoints thrown away: $(grep "started over\|starting over" run2.out | head -2)"
fi
for t in GOOG AAPL; do
	resume=$(q $DB "select a.resume from attempts a join jobs j on a.job_id=j.id where j.ticker='$t' order by a.id limit 1")
	case "$resume" in
	"resuming from $T/out/$t.ckpt"*"the database had recorded no checkpoint: corrected)") ;;
	*) fail "$t: attempts.resume '$resume'" ;;
	esac
	grep -q "$t attempt 1 pid [0-9]* resuming from .*$t.ckpt.*recorded no checkpoint: corrected" run2.out ||
		fail "$t: the log does not say it resumed: $(grep "$t" run2.out | head -3)"
	# The first progress of the resumed attempt is past where the kill found it.
	first=$(q $DB "select min(l.done_episodes) from loss_samples l join attempts a on l.attempt_id=a.id join jobs j on a.job_id=j.id where j.ticker='$t'")
	[ -n "$first" ] && [ "$first" -gt 5 ] || fail "$t resumed at episode ${first:-none}, not past 5"
	cmp out/$t.model ref/$t.model || fail "$t.model differs from the undisturbed run"
done
# The database was corrected from the files: a checkpoint row of no attempt each.
expect_eq "correcting checkpoint rows" "$(q $DB "select count(*) from checkpoints where attempt_id is null")" 2

# --retrain starts from scratch even where checkpoints are on disk
# (run.keep_checkpoints keeps them after a done ticker).
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG --set run.keep_checkpoints=1 \
	--db keep.db >keep.out 2>&1 || fail "keep run failed: $(tail -3 keep.out)"
ls out/GOOG.ckpt >/dev/null || fail "run.keep_checkpoints = 1 kept no checkpoint"
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG --retrain --db keep.db >retrain.out 2>&1 ||
	fail "retrain failed: $(tail -3 retrain.out)"
grep -q "resuming from" retrain.out && fail "--retrain resumed: $(grep "resuming from" retrain.out)"
expect_eq "retrained attempt's first progress" \
	"$(q keep.db "select min(l.done_episodes) from loss_samples l where l.attempt_id = (select max(id) from attempts)")" 1
cmp out/GOOG.model ref/GOOG.model || fail "the retrained GOOG.model differs"
echo ok
