#!/bin/sh
# issue 13 and issue 7 section 6: the run's configuration is fixed at start
# and recorded per job.
# 1. The config file edited while the run goes (between two tickers, parallel
#    1): the second ticker still trains with the configuration of the start
#    (its model is byte-identical to an undisturbed run's), and
#    jobs.config = runs.config.
# 2. A rerun whose model-shaping keys differ (rewts.hidden; run.threads) from
#    what done and half-trained tickers trained under refuses to start,
#    names tickers, keys and values and the ways out; nothing changes.
# 3. A change of keys that do not shape the model (parallel, heartbeat) runs;
#    a ticker that never trained takes the run's model keys without --retrain.
# 4. --retrain trains them afresh under the new configuration.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
sed -i 's/^parallel = 2/parallel = 1/' run.ini
DB=out/tickervisor.db

"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL --set run.out_dir=ref --db ref.db \
	>ref.out 2>&1 || fail "reference run failed"

# 1. Edit the file once the first ticker trains.
cp run.ini orig.ini
TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL >run1.out 2>&1 &
sup=$!
wait_for $DB "select count(*) from jobs where state='running' and done_episodes >= 1" 60
sed -i 's/^hidden = 16,16/hidden = 8/' run.ini
wait $sup || fail "run 1 failed: $(tail -5 run1.out)"
for t in GOOG AAPL; do
	cmp out/$t.model ref/$t.model || fail "$t: the edit reached a worker (model differs)"
done
expect_eq "jobs.config is the run's" \
	"$(q $DB "select count(*) from jobs j, runs r where r.id = 1 and j.config = r.config")" 2
cp orig.ini run.ini

# Half-trained MSFT next to the two done ones, and SPX recorded but never
# started (parallel 1: it waits behind MSFT).
TV_FAULT_SLOW_MS=30 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,MSFT,SPX >run2.out 2>&1 &
sup=$!
wait_for $DB "select count(*) from jobs where ticker='MSFT' and done_episodes >= 2" 60
kill -INT $sup
wait $sup || true
expect_eq "MSFT paused half-trained" "$(q $DB "select state from jobs where ticker='MSFT'")" pending
expect_eq "SPX recorded, never started" "$(q $DB "select state||' '||attempts||' '||done_episodes from jobs where ticker='SPX'")" "pending 0 0"
before=$(q $DB "select group_concat(ticker||state||done_episodes||ckpt_id, ',') from jobs order by ticker")
runs_before=$(q $DB "select count(*) from runs")

# 2. Drift: refused, named, nothing changed.
set +e
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,MSFT --set rewts.hidden=32,32 >drift.out 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "drift: exit $rc, want 2: $(cat drift.out)"
for want in "GOOG (done)" "AAPL (done)" "MSFT (pending)" "rewts.hidden = 16,16 (recorded) / 32,32 (now)" \
	"--retrain" "restore the configuration"; do
	grep -qF -- "$want" drift.out || fail "drift message lacks '$want': $(cat drift.out)"
done
grep -q "SPX" drift.out && fail "drift names SPX, which never trained: $(cat drift.out)"
set +e
"$TV_SUPERVISOR" run run.ini --set run.tickers=MSFT --set run.threads=2 >threads.out 2>&1
rc=$?
set -e
[ $rc -eq 2 ] && grep -qF "run.threads = 1 (recorded) / 2 (now)" threads.out ||
	fail "a thread count change is not refused: rc $rc: $(cat threads.out)"
expect_eq "jobs untouched" "$(q $DB "select group_concat(ticker||state||done_episodes||ckpt_id, ',') from jobs order by ticker")" "$before"
expect_eq "no run started" "$(q $DB "select count(*) from runs")" "$runs_before"

# 3. Keys that do not shape the model: the run goes on and finishes MSFT.
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,MSFT --set run.parallel=2 \
	--set run.heartbeat=0.3 >run3.out 2>&1 || fail "non-model change refused: $(tail -5 run3.out)"
expect_eq "all done" "$(q $DB "select count(*) from jobs where state='done'")" 3
grep -q "MSFT.*resuming from" run3.out || fail "MSFT did not resume"

# 3b. A ticker that never trained takes this run's model keys, no
# --retrain needed: SPX trains at hidden 32,32 and records it.
q $DB "select config from jobs where ticker='SPX'" | grep -q '^hidden = 16,16$' ||
	fail "SPX's first recorded configuration is not the old one"
"$TV_SUPERVISOR" run run.ini --set run.tickers=SPX --set rewts.hidden=32,32 >run3b.out 2>&1 ||
	fail "an untrained ticker with new model keys refused: $(tail -5 run3b.out)"
expect_eq "SPX done" "$(q $DB "select state from jobs where ticker='SPX'")" done
q $DB "select config from jobs where ticker='SPX'" | grep -q '^hidden = 32,32$' ||
	fail "SPX kept the configuration it never trained under"

# 4. --retrain under the new configuration.
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG --set rewts.hidden=32,32 --retrain >run4.out 2>&1 ||
	fail "--retrain refused: $(tail -5 run4.out)"
expect_eq "GOOG retrained" "$(q $DB "select state from jobs where ticker='GOOG'")" done
q $DB "select config from jobs where ticker='GOOG'" | grep -q '^hidden = 32,32$' ||
	fail "GOOG's recorded configuration not updated"
cmp -s out/GOOG.model ref/GOOG.model && fail "GOOG retrained with the same model"
echo ok
