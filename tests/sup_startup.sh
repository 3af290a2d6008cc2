#!/bin/sh
# issue 13: a worker that dies before its first frame (hello) is a startup
# failure, reported as such in the attempt's reason, the log and status,
# and it is a charged crash retried with back-off - not "interrupted" (a
# worker whose OpenBLAS cannot create its threads raises SIGINT on itself)
# and not over budget. The worker here is a wrapper (--worker) around the
# real one that fails its first start per ticker, or every start.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
DB=out/tickervisor.db

cat >worker.sh <<'EOF'
#!/bin/sh
# GOOG: exit 1 on its first start; AAPL: SIGINT to itself on its first
# start; MSFT: exit 1 on every start; then the real worker.
t=
prev=
for a in "$@"; do
	[ "$prev" = --ticker ] && t=$a
	prev=$a
done
n=$(cat "$STARTS_DIR/$t" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n >"$STARTS_DIR/$t"
case "$t:$n" in
GOOG:1|MSFT:*)
	echo "worker.sh: $t: cannot load libfake.so.1" >&2
	exit 1 ;;
AAPL:1)
	kill -INT $$
	sleep 5
	exit 0 ;;
esac
exec "$REAL_WORKER" "$@"
EOF
chmod +x worker.sh
mkdir starts

set +e
STARTS_DIR="$T/starts" REAL_WORKER="$TV_WORKER" "$TV_SUPERVISOR" run run.ini \
	--set run.tickers=GOOG,AAPL,MSFT --worker "$T/worker.sh" >run.out 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "a run with a failed ticker exited 0"
expect_eq "done" "$(q $DB "select group_concat(ticker) from (select ticker from jobs where state='done' order by ticker)")" "AAPL,GOOG"
expect_eq "failed" "$(q $DB "select ticker from jobs where state='failed'")" "MSFT"

# The first attempt of GOOG and AAPL: a charged crash, reason "startup failure".
first() { # TICKER COLUMN
	q $DB "select a.$2 from attempts a join jobs j on a.job_id = j.id where j.ticker = '$1' order by a.id limit 1"
}
expect_eq "GOOG first attempt kind" "$(first GOOG exit_kind)" crash
expect_eq "GOOG first attempt charged" "$(first GOOG charged)" 1
expect_eq "AAPL first attempt kind" "$(first AAPL exit_kind)" crash
expect_eq "AAPL first attempt charged" "$(first AAPL charged)" 1
case "$(first GOOG reason)" in
"startup failure: exit 1 (unknown) before its first frame: it sent nothing; its output is in workers.log of run.out_dir; attempt 1 of 3, retry in "*" s"*) ;;
*) fail "GOOG reason: $(first GOOG reason)" ;;
esac
# One delay, one formatting: the log line's "retry in X s at batch" and the
# attempt's reason name the same X (the respawn floor left 0.9 s, not "1 s").
in_reason=$(first GOOG reason | sed -n 's/.*, retry in \([0-9.]*\) s.*/\1/p')
in_log=$(grep "GOOG.*exited crash (code 1)" run.out | head -1 | sed -n 's/.*: retry in \([0-9.]*\) s at batch.*/\1/p')
[ -n "$in_log" ] || fail "no retry delay in the log: $(grep GOOG run.out | head -3)"
expect_eq "GOOG retry delay, log against reason" "$in_reason" "$in_log"
case "$(first AAPL reason)" in
"startup failure: killed by signal 2 (SIGINT) before its first frame"*) ;;
*) fail "AAPL reason: $(first AAPL reason)" ;;
esac
# The log line says it, and nothing was called interrupted.
grep -q "GOOG.*exited crash (code 1).*retry in .*: startup failure: exit 1" run.out ||
	fail "no startup failure in the log for GOOG: $(grep GOOG run.out | head -5)"
grep -q "AAPL.*exited crash (signal 2 .*startup failure: killed by signal 2 (SIGINT)" run.out ||
	fail "no startup failure in the log for AAPL: $(grep AAPL run.out | head -5)"
grep -q "interrupted" run.out && fail "an attempt was called interrupted: $(grep interrupted run.out)"
# Retried with back-off: the second start at least the back-off after the first.
gap=$(q $DB "select (select started_at from attempts a join jobs j on a.job_id=j.id where j.ticker='GOOG' order by a.id limit 1 offset 1) - (select started_at from attempts a join jobs j on a.job_id=j.id where j.ticker='GOOG' order by a.id limit 1) >= 0.9")
expect_eq "GOOG retried after the back-off" "$gap" 1
# The wrapper's own message is where the reason says.
grep -q "worker.sh: GOOG: cannot load libfake.so.1" out/workers.log || fail "no stderr in out/workers.log"

# MSFT failed every start: charged up to max_attempts, and status says why.
expect_eq "MSFT attempts" "$(q $DB "select count(*) from attempts a join jobs j on a.job_id=j.id where j.ticker='MSFT' and exit_kind='crash' and charged=1")" 3
"$TV_SUPERVISOR" status $DB >status.out 2>&1 || true
grep -q "MSFT.*startup failure: exit 1 (unknown) before its first frame" status.out ||
	fail "status does not say startup failure: $(cat status.out)"
echo ok
