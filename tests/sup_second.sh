#!/bin/sh
# A second supervisor on the same database gets a clear error naming the
# running one, exits non-zero and changes nothing; the first one carries on
# and finishes.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
DB=out/tickervisor.db

TV_FAULT_SLOW_MS=20 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,MSFT >first.out 2>&1 &
first=$!
wait_for $DB "select count(*) from attempts where ended_at is null" 30
runs_before=$(q $DB "select count(*) from runs")
jobs_before=$(q $DB "select group_concat(ticker||':'||batch_size||':'||data_path) from (select * from jobs order by ticker)")

set +e
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,MSFT,IBM >second.out 2>&1
rc=$?
set -e
expect_eq "second supervisor's exit status" "$rc" 3
grep -q "another supervisor (pid $first)" second.out || fail "no clear error: $(cat second.out)"
expect_eq "runs after the second try" "$(q $DB "select count(*) from runs")" "$runs_before"
expect_eq "no IBM job added" "$(q $DB "select count(*) from jobs where ticker='IBM'")" 0
expect_eq "jobs after the second try" \
	"$(q $DB "select group_concat(ticker||':'||batch_size||':'||data_path) from (select * from jobs order by ticker)")" \
	"$jobs_before"
kill -0 "$first" 2>/dev/null || fail "the first supervisor died"

set +e
wait "$first"
rc=$?
set -e
expect_eq "first supervisor's exit status" "$rc" 0
expect_eq "done jobs" "$(q $DB "select count(*) from jobs where state='done'")" 3
expect_eq "attempts (one each)" "$(q $DB "select count(*) from attempts")" 3
echo "ok"
