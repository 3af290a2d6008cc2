#!/bin/sh
# A worker that writes a garbage frame, or a length prefix of 16 MiB: that
# attempt ends with a protocol error naming the problem, is retried (the
# fault fires once) and finishes; the other ticker running beside it and
# the supervisor are unaffected.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini

for fault in GARBAGE OVERSIZE; do
	db="$fault.db"
	set +e
	env "TV_FAULT_$fault=1" "TV_FAULT_ONCE=$T/once-$fault" \
		"$TV_SUPERVISOR" run run.ini --db "$db" --set run.tickers=GOOG,AAPL \
		--set "run.out_dir=out-$fault" >"$fault.out" 2>&1
	rc=$?
	set -e
	expect_eq "$fault: exit status" "$rc" 0
	[ -e "once-$fault" ] || fail "$fault: the fault never fired"
	expect_eq "$fault: done jobs" "$(q "$db" "select count(*) from jobs where state='done'")" 2
	nproto=$(q "$db" "select count(*) from attempts where exit_kind='protocol-error' and reason like '%protocol error%'")
	[ "$nproto" -ge 1 ] || fail "$fault: no protocol-error attempt: $(q "$db" 'select * from attempts')"
	# The fault fires in the first worker(s) to reach it (the once file is
	# not taken atomically, so one or both): each protocol-error attempt is
	# followed by one done attempt of the same ticker, each ticker is done
	# exactly once, and nothing else happened.
	expect_eq "$fault: all attempts" "$(q "$db" 'select count(*) from attempts')" $((2 + nproto))
	expect_eq "$fault: kinds" "$(q "$db" "select count(*) from attempts where exit_kind not in ('done', 'protocol-error')")" 0
	expect_eq "$fault: one done attempt per ticker" \
		"$(q "$db" "select group_concat(n) from (select count(*) n from attempts where exit_kind='done' group by job_id)")" "1,1"
	expect_eq "$fault: every protocol error retried after it" \
		"$(q "$db" "select count(*) from attempts p where p.exit_kind='protocol-error' and not exists
			(select 1 from attempts d where d.job_id = p.job_id and d.exit_kind='done' and d.id > p.id)")" 0
	# Not charged as a permanent failure, and the models exist.
	[ -s "out-$fault/GOOG.model" ] && [ -s "out-$fault/AAPL.model" ] || fail "$fault: models missing"
	grep -q "protocol error" "$fault.out" || fail "$fault: no log line for the protocol error"
done
[ -z "$(workers_alive)" ] || fail "workers left: $(workers_alive)"
echo "ok"
