#!/bin/sh
# A worker that stops sending frames (TV_FAULT_HANG_AT) is killed after
# run.hang_timeout; the hang is charged like a crash, and after
# max_attempts the ticker fails with a reason that says so. The other
# ticker of the run finishes.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini

# The hang fires in every GOOG attempt: a wrapper sets it for GOOG only,
# two episodes after where attempt k resumes (attempt k hangs after
# episode 2k; its checkpoint at 2k is where attempt k+1 starts).
cat >worker.sh <<EOF2
#!/bin/sh
case " \$* " in
*" --ticker GOOG "*)
	echo x >>"$T/goog-starts"
	export TV_FAULT_HANG_AT=\$((2 * \$(wc -l <"$T/goog-starts"))) ;;
esac
exec "$TV_WORKER" "\$@"
EOF2
chmod +x worker.sh

start=$(date +%s)
set +e
TV_WORKER="$T/worker.sh" "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL \
	--set run.hang_timeout=1.5 --set run.max_attempts=2 >run.out 2>&1
rc=$?
set -e
elapsed=$(( $(date +%s) - start ))
DB=out/tickervisor.db
expect_eq "exit status (a ticker failed)" "$rc" 1
expect_eq "GOOG state" "$(q $DB "select state from jobs where ticker='GOOG'")" failed
expect_eq "AAPL state" "$(q $DB "select state from jobs where ticker='AAPL'")" done
expect_eq "GOOG attempts" "$(q $DB "select count(*) from attempts a join jobs j on a.job_id=j.id where j.ticker='GOOG'")" 2
expect_eq "GOOG hang attempts (charged, SIGKILL)" \
	"$(q $DB "select count(*) from attempts a join jobs j on a.job_id=j.id where j.ticker='GOOG' and exit_kind='hang' and charged=1 and term_signal=9")" 2
reason=$(q $DB "select last_reason from jobs where ticker='GOOG'")
case "$reason" in
*hung*"no heartbeat for 1.5 s"*) ;;
*) fail "GOOG reason: '$reason'" ;;
esac
# Each hung attempt lived at least hang_timeout after its last frame.
[ "$elapsed" -ge 3 ] || fail "two hangs of 1.5 s took only $elapsed s"
grep -q "FAILED GOOG: .*no heartbeat" run.out || fail "summary does not name GOOG and why"
[ -z "$(workers_alive)" ] || fail "workers left: $(workers_alive)"
echo "ok"
