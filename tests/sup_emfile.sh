#!/bin/sh
# issue 13: starting a worker fails with EMFILE (the supervisor is out of
# descriptors): transient, the ticker waits with a back-off and is started
# once descriptors are available again; nothing is failed or lost, and the
# model is byte-identical to an undisturbed run's.
# The supervisor's soft open files limit is lowered from outside (prlimit)
# below the descriptors it already holds while no worker runs (the first
# start, a wrapper, waits for a file and then fails at startup), and
# raised again once the log says the start failed.
. "$TV_SOURCE_ROOT/tests/lib.sh"
command -v prlimit >/dev/null 2>&1 || skip "no prlimit (util-linux)"
cd "$T"
write_config run.ini
sed -i 's/^backoff = 0.1/backoff = 2/' run.ini
DB=out/tickervisor.db

"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG --set run.out_dir=ref --db ref.db \
	>ref.out 2>&1 || fail "reference run failed"

cat >worker.sh <<'EOF'
#!/bin/sh
# The first start waits for $GO (at most 60 s), then fails; later ones are the real worker.
if [ ! -e "$GO.started" ]; then
	: >"$GO.started"
	n=600
	while [ ! -e "$GO" ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
	echo "worker.sh: first start fails" >&2
	exit 1
fi
exec "$REAL_WORKER" "$@"
EOF
chmod +x worker.sh

GO="$T/go" REAL_WORKER="$TV_WORKER" "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG \
	--worker "$T/worker.sh" >run.out 2>&1 &
sup=$!
wait_for $DB "select count(*) from attempts where ended_at is null" 60
soft=$(awk '/^Max open files/ { print $4 }' /proc/$sup/limits)
[ -n "$soft" ] || fail "cannot read the supervisor's open files limit"
# Below what it holds (0, 1 and 2 are open): no new descriptor at all.
prlimit --pid $sup --nofile=3: || skip "prlimit cannot change the supervisor's limit"
: >"$T/go"
n=300
while ! grep -q "cannot start a worker now (too many open files; 0 running): retrying in" run.out &&
	[ $n -gt 0 ] && kill -0 $sup 2>/dev/null; do
	sleep 0.1
	n=$((n - 1))
done
grep -q "cannot start a worker now (too many open files; 0 running): retrying in" run.out ||
	{ prlimit --pid $sup --nofile=$soft: 2>/dev/null || true; fail "no EMFILE retry: $(tail -5 run.out)"; }
prlimit --pid $sup --nofile=$soft: || fail "cannot raise the limit again"
set +e
wait $sup
rc=$?
set -e
expect_eq "exit status" "$rc" 0
expect_eq "state" "$(q $DB "select state from jobs")" done
expect_eq "attempts" "$(q $DB "select group_concat(exit_kind) from (select exit_kind from attempts order by id)")" "crash,done"
grep -q "too many open files" run.out || fail "EMFILE not named"
grep -q "cannot start the worker .*stopping the run" run.out && fail "the run was stopped: $(tail -3 run.out)"
cmp out/GOOG.model ref/GOOG.model || fail "GOOG.model differs from the undisturbed run"
echo ok
