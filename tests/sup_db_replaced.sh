#!/bin/sh
# issue 13: the database replaced under a running supervisor (another
# SQLite file moved over it: a new inode at the path). The supervisor
# notices, its workers checkpoint and stop (paused for the next run), it
# exits non-zero naming the file, and it writes nothing into the file that
# took the path. The original database (kept here through a hard link) put
# back, the rerun resumes every ticker from its newest checkpoint (the last
# ones were not recorded: corrected from the files) and the models are
# byte-identical to an undisturbed run's.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
TICKERS=GOOG,AAPL

"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --set run.out_dir=ref --db ref.db \
	>ref.out 2>&1 || fail "reference run failed"

TV_FAULT_SLOW_MS=100 "$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --db tv.db >run1.out 2>&1 &
sup=$!
wait_for tv.db "select count(*) = 2 from jobs where state='running' and done_episodes >= 4" 90

sqlite3 other.db "create table other(x); insert into other values (42);"
ln tv.db keep.db
mv other.db tv.db
set +e
timeout 60 sh -c "wait $sup" 2>/dev/null
wait $sup
rc=$?
set -e
[ $rc -ne 0 ] || fail "replaced database: exit 0"
grep -q "tv.db: the database file was replaced by another file while the supervisor ran" run1.out ||
	fail "replaced database not named: $(grep -v 'checkpoint chunk' run1.out | tail -5)"
for t in GOOG AAPL; do
	grep -q "$t attempt 1 pid [0-9]* exited interrupted .*: paused for the next run" run1.out ||
		fail "$t not stopped cleanly: $(grep "$t" run1.out | grep -v 'checkpoint chunk' | tail -3)"
	[ -f out/$t.ckpt ] || fail "no $t checkpoint after the stop: $(ls out)"
done
# SQLite's WAL goes by the path's name: what the supervisor left in it
# would be read as part of the file that took the path (before: this
# query saw the supervisor's tables, and the file was overwritten).
expect_eq "the file that took the path" "$(q tv.db "select group_concat(name) from sqlite_master")" other
expect_eq "its row" "$(q tv.db "select x from other")" 42

# The original database back: both tickers resume and finish.
mv keep.db tv.db
"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --db tv.db >run2.out 2>&1 ||
	fail "rerun failed: $(tail -5 run2.out)"
expect_eq "done" "$(q tv.db "select count(*) from jobs where state='done'")" 2
for t in GOOG AAPL; do
	resume=$(q tv.db "select a.resume from attempts a join jobs j on a.job_id=j.id where j.ticker='$t' and a.run_id=2")
	case "$resume" in
	"resuming from $T/out/$t.ckpt"*) ;;
	*) fail "$t: the rerun's attempts.resume '$resume'" ;;
	esac
	cmp out/$t.model ref/$t.model || fail "$t.model differs from the undisturbed run"
done

# Deleted instead: the next run creates a fresh database at the path, and
# the old WAL must not be read into it (before: it was left full, and the
# fresh database read its frames). The rerun resumes from the files.
TV_FAULT_SLOW_MS=100 "$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --db del.db \
	--set run.out_dir=out-del >del1.out 2>&1 &
sup=$!
wait_for del.db "select count(*) = 2 from jobs where state='running' and done_episodes >= 4" 90
rm -f del.db
set +e
timeout 60 sh -c "wait $sup" 2>/dev/null
wait $sup
rc=$?
set -e
[ $rc -ne 0 ] || fail "deleted database: exit 0"
grep -q "del.db: the database file is gone" del1.out || fail "deleted database not named: $(tail -3 del1.out)"
[ ! -s del.db-wal ] || fail "the deleted database's WAL is left with $(stat -c %s del.db-wal) bytes"
"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --db del.db --set run.out_dir=out-del \
	>del2.out 2>&1 || fail "rerun after the deletion failed: $(tail -5 del2.out)"
expect_eq "done after the deletion" "$(q del.db "select count(*) from jobs where state='done'")" 2
expect_eq "runs in the fresh database" "$(q del.db "select count(*) from runs")" 1
for t in GOOG AAPL; do
	cmp out-del/$t.model ref/$t.model || fail "$t.model differs after the deletion"
done
echo ok
