#!/bin/sh
# issue 13: spawn failures under a process limit (ulimit -u, as an
# unprivileged user: root is exempt) are transient: the ticker waits with a
# back-off while the running workers go on, and the run finishes (before:
# exit 3 at the first EAGAIN, and a worker whose OpenBLAS could not create
# its threads raised SIGINT on itself, logged "interrupted"). With no
# process to spare at all, the run stops with a message, not silently.
. "$TV_SOURCE_ROOT/tests/lib.sh"
command -v setpriv >/dev/null 2>&1 && command -v bash >/dev/null 2>&1 || skip "no setpriv or bash"
[ "$(id -u)" = 0 ] || skip "needs root to switch to an unprivileged user"
chmod 755 "$T"
cd "$T"
mkdir run && chmod 777 run
cd run
write_config run.ini
sed -i 's/^parallel = 2/parallel = 3/' run.ini
chmod 666 run.ini
as_nobody() { # NPROC LOG
	setpriv --reuid=65534 --regid=65534 --clear-groups bash -c \
		"ulimit -u $1; TV_WORKER='$TV_WORKER' exec '$TV_SUPERVISOR' run run.ini --set run.tickers=GOOG,AAPL,MSFT $3" \
		>"$2" 2>&1
}
# 2 processes: the supervisor and one worker at a time (parallel 3).
as_nobody 2 two.out "--db two.db --set run.out_dir=two" || fail "ulimit -u 2: $(grep -v 'checkpoint chunk' two.out | tail -5)"
expect_eq "done under ulimit -u 2" "$(q two.db "select count(*) from jobs where state='done'")" 3
grep -q "cannot start a worker now (resource temporarily unavailable; 1 running): retrying in" two.out ||
	fail "no EAGAIN retried: $(grep -v 'checkpoint chunk' two.out | head -8)"
grep -q "signal 2" two.out && fail "a worker was interrupted by its own SIGINT"
# 1 process: no worker can ever start.
set +e
as_nobody 1 one.out "--db one.db --set run.out_dir=one"
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "tickervisor: cannot start the worker .*: resource temporarily unavailable; stopping the run" one.out ||
	fail "ulimit -u 1: rc $rc: $(tail -3 one.out)"
echo ok
