#!/bin/sh
# issue 13: a full database disk must not throw away valid checkpoints.
# The database alone on a 1 MiB tmpfs (--db): its commits fail while the
# workers go on checkpointing, so the checkpoints on disk are newer than any
# checksum the database recorded. After the disk is enlarged, the rerun
# resumes from them (their own CRC holds; the worker checks ticker, config
# and data fingerprint), records that in attempts.resume, corrects the
# database, and every model is byte-identical to an undisturbed run's.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
TICKERS=GOOG,AAPL,MSFT,IBM

mkdir tiny
mount -t tmpfs -o size=1m tmpfs tiny 2>/dev/null || skip "cannot mount a tmpfs (needs root)"
trap 'rc=$?; umount "$T/tiny" 2>/dev/null || true; set +e; (exit $rc); tv_cleanup' EXIT

"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --set run.out_dir=ref --db ref.db \
	>ref.out 2>&1 || fail "reference run failed"

# Once the database has recorded a few checkpoints, fill its disk: the
# commits fail from then on while the workers keep checkpointing.
DB=tiny/tv.db
TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --db $DB >run1.out 2>&1 &
sup=$!
wait_for $DB "select count(*) >= 2 from checkpoints" 60
dd if=/dev/zero of=tiny/filler bs=4k 2>/dev/null || true
set +e
wait $sup
rc=$?
set -e
[ $rc -ne 0 ] || fail "the run on a full disk exited 0"
grep -qi "full\|ENOSPC\|disk" run1.out || fail "the full disk is not named: $(tail -5 run1.out)"
ls out/*.ckpt >/dev/null 2>&1 || fail "no checkpoint written"

# Room again (the same database file, grown).
rm -f tiny/filler
mount -o remount,size=64m tiny || fail "remount"
"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --db $DB >run2.out 2>&1 ||
	fail "rerun failed: $(tail -5 run2.out)"
expect_eq "done" "$(q $DB "select count(*) from jobs where state='done'")" 4
if grep -q "starting over\|started over" run2.out; then
	fail "valid checkpoints thrown away: $(grep "starting over\|started over" run2.out | head -3)"
fi
[ "$(grep -c "resuming from" run2.out)" -ge 1 ] || fail "the rerun resumed nothing"
started_over=$(q $DB "select count(*) from attempts where resume like 'started over%'")
resumed=$(q $DB "select count(*) from attempts a where a.run_id = (select max(id) from runs) and resume like 'resuming from%'")
[ "$resumed" -ge 1 ] || fail "nothing resumed: $(q $DB "select resume from attempts")"
expect_eq "attempts that started over" "$started_over" 0
for t in $(echo $TICKERS | tr ',' ' '); do
	cmp out/$t.model ref/$t.model || fail "$t.model differs from the undisturbed run"
done
echo "ok ($resumed resumed, corrected: $(q $DB "select count(*) from attempts where resume like '%corrected%'"))"
