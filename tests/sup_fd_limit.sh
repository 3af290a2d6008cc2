#!/bin/sh
# issue 13: under `ulimit -n 12` the supervisor exited 3 with no message and
# at 10 it aborted (SIGABRT inside libuv's loop init). Now a limit too low
# for the run is an error at start naming the limit and what it needs; a
# soft limit below the need with a hard limit above it is raised and the
# run trains.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
for n in 12 10; do
	set +e
	(ulimit -n $n; exec "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL --db n$n.db \
		--set run.out_dir=o$n) >n$n.out 2>&1
	rc=$?
	set -e
	[ $rc -ne 134 ] && [ $rc -ne 0 ] || fail "ulimit -n $n: exit $rc: $(cat n$n.out)"
	grep -q "tickervisor: the open files limit (ulimit -n) is $n; this run needs at least" n$n.out ||
		fail "ulimit -n $n: exit $rc without the message: $(cat n$n.out)"
done
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 200 ]; then
	(ulimit -Sn 12; exec "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL) >soft.out 2>&1 ||
		fail "soft limit 12 (hard $hard) not raised: $(tail -3 soft.out)"
	expect_eq "done" "$(q out/tickervisor.db "select count(*) from jobs where state='done'")" 2
fi
echo ok
