#!/bin/sh
# issue 7 section 5: `status` on a run whose supervisor was SIGKILLed says the
# supervisor is gone (not "running" with an ETA), in text and JSON; and
# `status` reads a database whose folder is read-only (a read-only tmpfs:
# root ignores permission bits), both text and JSON.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
DB=out/tickervisor.db

TV_FAULT_SLOW_MS=40 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL >run.out 2>&1 &
sup=$!
wait_for $DB "select count(*) from jobs where state='running' and done_episodes >= 2" 60
"$TV_SUPERVISOR" status $DB >alive.txt 2>&1 || fail "status failed: $(cat alive.txt)"
grep -q ", running" alive.txt || fail "live run not shown running: $(head -1 alive.txt)"
kill -9 $sup
wait $sup 2>/dev/null || true
sleep 0.5

"$TV_SUPERVISOR" status $DB >lost.txt 2>&1 || fail "status failed after the kill: $(cat lost.txt)"
head -1 lost.txt | grep -q "supervisor is gone" || fail "dead supervisor not said: $(head -1 lost.txt)"
grep -q "^[A-Z]* *running" lost.txt && fail "a ticker still shown running: $(cat lost.txt)"
grep -q "^[A-Z]* *lost" lost.txt || fail "the interrupted ticker not shown lost: $(cat lost.txt)"
"$TV_SUPERVISOR" status $DB --json >lost.json || fail "status --json failed"
python3 - lost.json <<'PY' || fail "JSON: $(cat lost.json)"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["run"]["supervisor_gone"] is True, s["run"]
assert all(j["eta_s"] is None for j in s["jobs"]), [j["eta_s"] for j in s["jobs"]]
PY

# A read-only folder.
mkdir ro
if ! mount -t tmpfs -o size=16m tmpfs ro 2>/dev/null; then
	echo "SKIP part: cannot mount a tmpfs (read-only folder not checked)"
	echo "ok"
	exit 0
fi
trap 'rc=$?; umount "$T/ro" 2>/dev/null || true; set +e; (exit $rc); tv_cleanup' EXIT
# As the kill left it: the database with its -wal and -shm.
cp $DB $DB-wal $DB-shm ro/ || fail "no WAL files after the kill"
mount -o remount,ro ro || fail "remount read-only"
"$TV_SUPERVISOR" status ro/tickervisor.db >ro.txt 2>&1 || fail "status in a read-only folder: $(cat ro.txt)"
grep -q "GOOG" ro.txt && grep -q "AAPL" ro.txt || fail "read-only view incomplete: $(cat ro.txt)"
"$TV_SUPERVISOR" status ro/tickervisor.db --json >ro.json 2>&1 || fail "status --json read-only: $(cat ro.json)"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert len(s["jobs"]) == 2, s' ro.json ||
	fail "read-only JSON: $(cat ro.json)"
# A database closed cleanly (no -wal, no -shm): SQLite cannot create the
# -shm in a read-only folder.
umount ro
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL >run2.out 2>&1 || fail "rerun failed"
[ ! -e $DB-wal ] || fail "the WAL is still there after a clean end"
mount -t tmpfs -o size=16m tmpfs ro || fail "mount"
cp $DB ro/
mount -o remount,ro ro || fail "remount read-only"
"$TV_SUPERVISOR" status ro/tickervisor.db >ro2.txt 2>&1 || fail "status, clean db, read-only folder: $(cat ro2.txt)"
grep -q "finished" ro2.txt && [ "$(grep -c ' done ' ro2.txt)" -ge 2 ] || fail "clean read-only view: $(cat ro2.txt)"
umount ro
echo "ok"
