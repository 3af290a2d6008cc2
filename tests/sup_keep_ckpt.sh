#!/bin/sh
# Issue 10: once a ticker is done and its model recorded, its checkpoints
# (NAME.ckpt and NAME.ckpt.prev) are removed; run.keep_checkpoints = 1
# keeps them. The model stays either way, and `tickervisor runs` lists both
# runs of the database with their results.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG >r1.out 2>&1 || fail "run 1: $(tail r1.out)"
[ -s out/GOOG.model ] || fail "no model"
expect_eq "checkpoints recorded" "$(q out/tickervisor.db "select count(*) > 0 from checkpoints")" 1
[ ! -e out/GOOG.ckpt ] && [ ! -e out/GOOG.ckpt.prev ] || fail "checkpoints of a done ticker left: $(ls out)"
grep -q "checkpoint .*GOOG.ckpt removed" r1.out || fail "no log line for the removal"
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG --set run.keep_checkpoints=1 --retrain \
	>r2.out 2>&1 || fail "run 2: $(tail r2.out)"
[ -s out/GOOG.ckpt ] && [ -s out/GOOG.model ] || fail "keep_checkpoints = 1 did not keep them: $(ls out)"
"$TV_SUPERVISOR" runs out/tickervisor.db >runs.out || fail "runs: exit $?"
python3 - runs.out <<'PY' || fail "runs: $(cat runs.out)"
import sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[0] == "out/tickervisor.db: 2 runs", lines[0]
rows = [l.split() for l in lines[2:] if l.strip()]
assert [r[0] for r in rows] == ["1", "2"], rows
for r in rows:
    # id date time duration outcome name tickers attempts results
    assert r[4] == "finished" and r[5] == "sup_keep_ckpt" and r[6:9] == ["1", "1", "1"], r
PY
"$TV_SUPERVISOR" runs --config out/tickervisor.db | grep -q "keep_checkpoints = 1" ||
	fail "runs --config does not show the second run's config"
"$TV_SUPERVISOR" status --run 1 out/tickervisor.db >run1.out || fail "status --run 1"
grep -Eq "^GOOG +done +1 +32 " run1.out || fail "status --run 1: $(cat run1.out)"
set +e
"$TV_SUPERVISOR" status --run 9 out/tickervisor.db >run9.out 2>&1; rc=$?
set -e
expect_eq "status --run 9 exit" "$rc" 1
grep -q "no run 9" run9.out || fail "status --run 9: $(cat run9.out)"
for c in run status runs report; do
	"$TV_SUPERVISOR" $c --help >h.out || fail "$c --help exit $?"
	grep -q "usage: tickervisor $c" h.out || fail "$c --help: $(cat h.out)"
	"$TV_SUPERVISOR" $c --version | grep -q "^tickervisor " || fail "$c --version"
done
echo "ok"
