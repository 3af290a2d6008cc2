#!/bin/sh
# A budget that no batch size fits: the ticker is halved down to
# min_batch_size and then fails with a reason naming the budget, the peak
# and the batch size; the other ticker of the same run finishes.
#
# What makes one ticker not fit: the finished chunk models stay in memory
# (the ensemble), so with hidden 512,512 (~1 MiB per chunk model) and
# 80-day chunks, SPX (58 chunks) needs ~50 MiB more than GOOG (10 chunks),
# whatever the batch size. The budget is GOOG's measured peak + 12 MiB.
. "$TV_SOURCE_ROOT/tests/lib.sh"
[ -f "$DATA/SPX.csv" ] || skip "no $DATA/SPX.csv"
cd "$T"
write_config run.ini
cat >>run.ini <<EOF2

[budget]
poll_ms = 20

[backtest]
test_fraction = 0.05
EOF2
SETS="--set rewts.hidden=512,512 --set rewts.batch_size=16 --set rewts.min_batch_size=8
 --set rewts.buffer_size=200 --set rewts.chunk_length=80 --set rewts.episodes_per_chunk=1
 --set rewts.lookback_length=10 --set run.checkpoint_every=5"

"$TV_SUPERVISOR" run run.ini $SETS --set run.tickers=GOOG --set run.out_dir=cal --db cal.db \
	>cal.out 2>&1 || fail "calibration run failed"
pG=$(q cal.db "select peak_rss from attempts where id=1")
[ -n "$pG" ] && [ "$pG" -gt 0 ] || fail "no calibration peak"
budget=$((pG + 12 * 1024 * 1024))
echo "GOOG peak $pG B; budget $budget B"

DB=out/tickervisor.db
set +e
"$TV_SUPERVISOR" run run.ini $SETS --set run.tickers=GOOG,SPX --set budget.rss=$budget >run.out 2>&1
rc=$?
set -e
expect_eq "exit status (a ticker failed)" "$rc" 1
expect_eq "GOOG" "$(q $DB "select state from jobs where ticker='GOOG'")" done
expect_eq "SPX" "$(q $DB "select state from jobs where ticker='SPX'")" failed
expect_eq "SPX attempts: halved once, then the floor" \
	"$(q $DB "select group_concat(a.batch_size||':'||a.exit_kind, ' ') from attempts a join jobs j on a.job_id=j.id where j.ticker='SPX' order by a.id")" \
	"16:over-budget 8:over-budget"
reason=$(q $DB "select last_reason from jobs where ticker='SPX'")
case "$reason" in
*"budget.rss"*"peak"*"batch_size 8"*"min_batch_size 8"*) ;;
*) fail "SPX reason does not name budget, peak and batch size: '$reason'" ;;
esac
grep -q "FAILED SPX: .*budget.rss" run.out || fail "summary does not name SPX and why"
[ -s out/GOOG.model ] || fail "no GOOG model"
[ ! -e out/SPX.model ] || fail "SPX has a model"
echo "ok"
