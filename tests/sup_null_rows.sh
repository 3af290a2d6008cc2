#!/bin/sh
# Yahoo's rows of "null" prices (issue 8 section 3): the worker trains on
# the other days and counts the skipped rows in its hello; the supervisor
# logs the count once per attempt. The data are examples/data/AAPL.csv with
# three days turned into Yahoo's null rows.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
mkdir data
awk -F, 'NR == 300 || NR == 301 || NR == 700 { print $1 ",null,null,null,null,null"; next }
	{ print }' "$DATA/AAPL.csv" >data/AAPL.csv
expect_eq "null rows in the data" "$(grep -c ',null,null,null,null,null$' data/AAPL.csv)" 3
cp "$DATA/GOOG.csv" data/
write_config run.ini
sed -i "s|^data_dir = .*|data_dir = $T/data|" run.ini

"$TV_SUPERVISOR" run run.ini --set run.tickers=AAPL,GOOG >run.out 2>&1 || fail "run: $(tail -5 run.out)"
expect_eq "both trained" "$(q out/tickervisor.db "select group_concat(ticker || ':' || state) from (select * from jobs order by ticker)")" "AAPL:done,GOOG:done"
grep -E '^[^ ]+ AAPL attempt 1 pid [0-9]+ 3 rows with null prices skipped \(missing days\)$' run.out >/dev/null ||
	fail "no log line of the skipped rows: $(grep AAPL run.out | head -5)"
expect_eq "logged once for the one attempt" "$(grep -c 'rows with null prices skipped' run.out)" 1
expect_eq "GOOG has no null rows" "$(grep -c 'GOOG .*null prices' run.out)" 0
echo ok
