#!/bin/sh
# issue 7 sections 5-6 and issue 13: what a run checks before it starts.
# - every ticker's input files at start: a missing file, a folder, a FIFO, a
#   symlink loop, a file over the CSV size limit, a file without a close
#   column fail THAT ticker at second 0 as bad input (no attempt, never
#   retried, the reason names file and cause; the limit named), the others
#   train; a fixed file lets the ticker go on the next run;
# - the data_dir scan accepts exactly the names run.tickers accepts;
# - signals_dir lacking a ticker's file, or signals entirely outside the
#   price range: a warning in log and status;
#   run.signals_required = true makes it an error;
# - run.device = cuda without a GPU: an error naming the key;
# - out_dir locked: a second supervisor with another --db is refused;
# - the database deleted under a running supervisor: the workers stop
#   (checkpointed), the supervisor exits non-zero naming the file.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
mkdir data
cp "$DATA/GOOG.csv" "$DATA/AAPL.csv" data/
mkdir data/DIRT.csv
mkfifo data/FIFO.csv
ln -s LOOP2.csv data/LOOP.csv
ln -s LOOP.csv data/LOOP2.csv
truncate -s 300M data/HUGE.csv
# Exactly the limit (256 MiB): allowed by the size check; the NUL bytes
# after GOOG's rows are the worker's to refuse, naming the line.
cp "$DATA/GOOG.csv" data/EDGE.csv
truncate -s 256M data/EDGE.csv
printf 'date,open\n2020-01-02,1\n' >data/NOCLOSE.csv
write_config run.ini
sed -i "s|^data_dir = .*|data_dir = $T/data|" run.ini
DB=out/tickervisor.db
ALL=GOOG,AAPL,MISSING,DIRT,FIFO,LOOP,HUGE,NOCLOSE,EDGE

set +e
timeout 120 "$TV_SUPERVISOR" run run.ini --set run.tickers=$ALL >run1.out 2>&1
rc=$?
set -e
[ $rc -eq 3 ] || [ $rc -eq 1 ] || [ $rc -eq 4 ] || fail "exit $rc (want the 'some failed' status): $(tail -5 run1.out)"
expect_eq "trained" "$(q $DB "select group_concat(ticker) from (select ticker from jobs where state='done' order by ticker)")" "AAPL,GOOG"
expect_eq "failed at start, no attempt" \
	"$(q $DB "select count(*) from jobs where state='failed' and attempts=0 and last_reason like 'input check at start:%'")" 6
reason() { q $DB "select last_reason from jobs where ticker='$1'"; }
reason MISSING | grep -q "MISSING.csv: No such file" || fail "MISSING: $(reason MISSING)"
reason DIRT | grep -q "DIRT.csv: is a folder" || fail "DIRT: $(reason DIRT)"
reason FIFO | grep -q "FIFO.csv: not a regular file (a FIFO)" || fail "FIFO: $(reason FIFO)"
reason LOOP | grep -q "LOOP.csv: too many levels of symbolic links" || fail "LOOP: $(reason LOOP)"
reason HUGE | grep -q "HUGE.csv: 314572800 bytes, over the limit of 256 MiB" || fail "HUGE: $(reason HUGE)"
reason EDGE | grep -q "over the limit" && fail "EDGE (exactly the limit) refused: $(reason EDGE)"
expect_eq "EDGE: the worker ran and refused it" "$(q $DB "select state || ' ' || attempts from jobs where ticker='EDGE'")" "failed 1"
reason EDGE | grep -q "EDGE.csv:$(($(wc -l <"$DATA/GOOG.csv") + 1)):" || fail "EDGE: $(reason EDGE)"
reason NOCLOSE | grep -q "NOCLOSE.csv:1: header: missing column 'close'" || fail "NOCLOSE: $(reason NOCLOSE)"
grep -q "MISSING failed: bad input: input check at start" run1.out || fail "not logged at start"
# Second 0: the failures are logged before any worker started.
first_start=$(grep -n "started batch" run1.out | head -1 | cut -d: -f1)
last_fail=$(grep -n "failed: bad input: input check" run1.out | tail -1 | cut -d: -f1)
[ "$last_fail" -lt "$first_start" ] || fail "input failures logged after a worker started"

# A fixed file: the next run trains it.
cp "$DATA/MSFT.csv" data/MISSING.csv
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,MISSING >run2.out 2>&1 || fail "fixed: $(tail -3 run2.out)"
expect_eq "fixed ticker trained" "$(q $DB "select state from jobs where ticker='MISSING'")" done

# The data_dir scan: a name run.tickers refuses is refused here too.
mkdir scan
cp "$DATA/GOOG.csv" scan/
cp "$DATA/AAPL.csv" "scan/BAD NAME.csv"
set +e
"$TV_SUPERVISOR" run run.ini --set run.data_dir="$T/scan" --set run.tickers= --db scan.db --set run.out_dir=scanout >scan.out 2>&1
rc=$?
"$TV_SUPERVISOR" run run.ini --set "run.tickers=GOOG,BAD NAME" --db scan2.db --set run.out_dir=scanout2 >scan2.out 2>&1
rc2=$?
set -e
[ $rc -eq 2 ] && grep -q "file 'BAD NAME.csv': ticker 'BAD NAME' has a character other than" scan.out ||
	fail "scan: rc $rc: $(cat scan.out)"
[ $rc2 -eq 2 ] && grep -q "ticker 'BAD NAME' has a character other than" scan2.out || fail "list: rc $rc2: $(cat scan2.out)"

# Signals: missing for a ticker -> warning (log, status); required -> error.
mkdir sig
awk -F, 'NR == 1 { print "date,direction,confidence"; next } NR % 20 == 2 { printf "%s,1,2\n", $1 }' \
	"$DATA/GOOG.csv" >sig/GOOG.csv
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL --set run.signals_dir="$T/sig" --db sig.db \
	--set run.out_dir=sigout >sig.out 2>&1 || fail "signals run: $(tail -3 sig.out)"
grep -q "warning: run.signals_dir .* has no signals file for 1 ticker (they train without signals): AAPL" sig.out ||
	fail "no signals warning in the log: $(head -3 sig.out)"
"$TV_SUPERVISOR" status sig.db | grep -q "^warning: run.signals_dir .*AAPL" || fail "no warning in status"
# Signals entirely outside the price range: a warning.
printf 'date,direction,confidence\n1990-01-02,1,2\n1990-02-01,-1,1\n' >sig/AAPL.csv
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL --set run.signals_dir="$T/sig" --db sig3.db \
	--set run.out_dir=sigout3 >sig3.out 2>&1 || fail "signals run 3: $(tail -3 sig3.out)"
grep -q "warning: .*sig/AAPL.csv: signals from 1990-01-02 to 1990-02-01, entirely outside the prices" sig3.out ||
	fail "no out-of-range warning: $(head -4 sig3.out)"
grep -q "GOOG.csv: signals from" sig3.out && fail "GOOG's signals (in range) warned about"
# Signals that reach the prices by one day only are not outside them:
# AAPL's end on its first price day, GOOG's start on its last.
cp sig/GOOG.csv sig-goog.keep
printf 'date,direction,confidence\n1990-01-02,1,2\n%s,-1,1\n' "$(awk -F, 'NR == 2 { print $1 }' "$DATA/AAPL.csv")" >sig/AAPL.csv
printf 'date,direction,confidence\n%s,1,2\n2099-01-02,-1,1\n' "$(tail -n 1 "$DATA/GOOG.csv" | cut -d, -f1)" >sig/GOOG.csv
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL --set run.signals_dir="$T/sig" --db sig4.db \
	--set run.out_dir=sigout4 >sig4.out 2>&1 || fail "signals run 4: $(tail -3 sig4.out)"
grep -q "signals from" sig4.out && fail "signals touching the prices by one day warned about: $(grep 'signals from' sig4.out)"
mv sig-goog.keep sig/GOOG.csv
rm sig/AAPL.csv
set +e
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL --set run.signals_dir="$T/sig" --db sig2.db \
	--set run.out_dir=sigout2 --set run.signals_required=true >sig2.out 2>&1
rc=$?
set -e
[ $rc -eq 2 ] && grep -q "run.signals_required: run.signals_dir .* has no signals file for 1 ticker: AAPL" sig2.out ||
	fail "signals_required: rc $rc: $(cat sig2.out)"
[ ! -e sig2.db ] || fail "signals_required: a database was created"

# run.device = cuda without a GPU (run.gpus = none).
set +e
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG --set run.device=cuda --db cuda.db \
	--set run.out_dir=cudaout >cuda.out 2>&1
rc=$?
set -e
[ $rc -eq 2 ] && grep -q "key 'run.device' is cuda, but this run has no GPU" cuda.out || fail "cuda: rc $rc: $(cat cuda.out)"

# out_dir locked like the database.
TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL --db a.db --set run.out_dir=shared >a.out 2>&1 &
sup=$!
wait_for a.db "select count(*) from jobs where state='running'" 60
set +e
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL --db b.db --set run.out_dir=shared >b.out 2>&1
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "run.out_dir .*shared: another supervisor (pid $sup) is running on this output folder" b.out ||
	fail "second supervisor on the same out_dir: rc $rc: $(cat b.out)"
[ ! -e b.db ] || [ "$(q b.db "select count(*) from attempts")" = 0 ] || fail "the second supervisor started workers"

# The database deleted under the running supervisor.
rm -f a.db
set +e
timeout 60 sh -c "wait $sup" 2>/dev/null
wait $sup
rc=$?
set -e
[ $rc -ne 0 ] || fail "deleted database: exit 0"
grep -q "a.db: the database file is gone" a.out || fail "deleted database not named: $(tail -5 a.out)"
grep -q "exited interrupted .*: paused for the next run" a.out || fail "workers not stopped cleanly: $(tail -5 a.out)"
echo ok
