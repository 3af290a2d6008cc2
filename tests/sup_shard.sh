#!/bin/sh
# --shard I/N (issue 9): three supervisors share one out_dir, each trains
# the tickers whose name hashes to its shard (checked against an
# independent FNV-1a in Python) into its own database named after the
# shard; the models are byte-identical to a one-host run of the same
# tickers; `status` over the three databases totals them as one run; the
# shard also comes from a Slurm array's or an Indexed Job's environment;
# an empty shard is done at once; bad shard settings are refused naming
# the flag or variable.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
mkdir data
for t in GOOG AAPL MSFT IBM; do ln -s "$DATA/$t.csv" data/$t.csv; done
ln -s "$DATA/GOOG.csv" data/GOOG2.csv
ln -s "$DATA/AAPL.csv" data/AAPL2.csv
TICKERS=GOOG,AAPL,MSFT,IBM,GOOG2,AAPL2
write_config run.ini
sed -i "s|^data_dir = .*|data_dir = $T/data|; s/^parallel = 2/parallel = 1/" run.ini

# One host, every ticker.
"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS >one.out 2>&1 || fail "one-host run: $(tail one.out)"
expect_eq "one-host done" "$(q out/tickervisor.db "select count(*) from jobs where state='done'")" 6
mv out one

# Three shards at once in the same out_dir.
for i in 0 1 2; do
	"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --shard $i/3 >shard$i.out 2>&1 &
	eval "pid$i=\$!"
done
for i in 0 1 2; do
	eval "p=\$pid$i"
	wait "$p" || fail "shard $i/3 failed: $(tail shard$i.out)"
done
[ ! -e out/tickervisor.db ] || fail "a shard wrote the unsharded database"
for i in 0 1 2; do
	db=out/tickervisor.shard-$i-of-3.db
	[ -f "$db" ] || fail "no $db: $(ls out)"
	[ -f out/workers.shard-$i-of-3.log ] || fail "no workers.shard-$i-of-3.log: $(ls out)"
	got=$(q "$db" "select group_concat(ticker, ',') from (select ticker from jobs where state='done' order by ticker)")
	want=$(python3 - "$TICKERS" $i 3 <<'PY'
import sys
def fnv(s):
    h = 14695981039346656037
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) % 2**64
    return h
print(",".join(sorted(t for t in sys.argv[1].split(",") if fnv(t) % int(sys.argv[3]) == int(sys.argv[2]))))
PY
)
	expect_eq "tickers done in shard $i/3" "$got" "$want"
	expect_eq "jobs in shard $i/3" "$(q "$db" "select count(*) from jobs")" "$(echo "$want" | tr ',' '\n' | grep -c .)"
done
# Byte-identical models, one host or three shards.
n=0
for m in one/*.model; do
	[ -f "out/$(basename "$m")" ] || fail "shards wrote no $(basename "$m")"
	cmp "$m" "out/$(basename "$m")" || fail "$(basename "$m") differs between 1 and 3 shards"
	n=$((n + 1))
done
expect_eq "models compared" "$n" 6

# status over every shard's database: each table, then the run's totals.
"$TV_SUPERVISOR" status out/tickervisor.shard-*-of-3.db >status.txt || fail "status: $(cat status.txt)"
grep -q "^all 3 databases (3 read): 6 jobs: 0 running, 0 pending, 6 done, 0 failed" status.txt ||
	fail "no totals over the shards: $(cat status.txt)"
"$TV_SUPERVISOR" status out/tickervisor.shard-*-of-3.db --json >status.json || fail "status --json"
python3 -c "
import json, sys
d = json.load(open('status.json'))
dbs, t = d['databases'], d['totals']
assert len(dbs) == 3 and sum(x['totals']['done'] for x in dbs) == 6, d
# The totals over the shards, as the text's 'all 3 databases' line.
assert (t['databases'], t['databases_read'], t['jobs'], t['done'], t['running'], t['pending'],
        t['failed']) == (3, 3, 6, 6, 0, 0, 0), t
assert t['done_episodes'] == sum(x['totals']['done_episodes'] for x in dbs) > 0, t
assert t['percent'] == 100.0 and t['eta_s'] == 0, t
" || fail "JSON over the shards: $(cat status.json)"

# The shard from the scheduler's environment: the same databases (all done).
SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 "$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS \
	>env1.out 2>&1 || fail "Slurm array task 1 of 3: $(tail env1.out)"
grep -q "db $T/out/tickervisor.shard-1-of-3.db" env1.out || fail "array task 1/3 used another db: $(cat env1.out)"
grep -q "shard 1/3: 2 of the run's 6 tickers" env1.out || fail "array task 1/3: $(cat env1.out)"
JOB_COMPLETION_INDEX=2 "$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --shards 3 \
	>env2.out 2>&1 || fail "Indexed Job index 2: $(tail env2.out)"
grep -q "shard 2/3: 3 of the run's 6 tickers" env2.out && grep -q "(3 already done)" env2.out ||
	fail "Indexed Job index 2 of 3: $(cat env2.out)"
# A resubmitted subset of the array (--array=2) keeps the run's count.
SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=1 "$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS \
	--shards 3 >env3.out 2>&1 || fail "array subset: $(tail env3.out)"
grep -q "tickervisor.shard-2-of-3.db" env3.out || fail "array subset: $(cat env3.out)"

# A shard none of the tickers falls in is done at once, with no database.
"$TV_SUPERVISOR" run run.ini --set run.tickers=$TICKERS --shard 0/50 >empty.out 2>&1 ||
	fail "empty shard: $(cat empty.out)"
grep -q "shard 0/50: 0 of the run's 6 tickers" empty.out || fail "empty shard: $(cat empty.out)"
[ ! -e out/tickervisor.shard-00-of-50.db ] || fail "an empty shard made a database"

# Bad settings: refused before anything starts (exit 2), naming the cause.
bad() {
	want_msg=$1
	shift
	set +e
	"$@" >bad.out 2>&1
	rc=$?
	set -e
	expect_eq "exit status of $*" "$rc" 2
	grep -qF -- "$want_msg" bad.out || fail "$*: message lacks '$want_msg': $(cat bad.out)"
}
bad "--shard '3/3x'" "$TV_SUPERVISOR" run run.ini --shard 3/3x
bad "shard index 3 is not below the count 3" "$TV_SUPERVISOR" run run.ini --shard 3/3
bad "JOB_COMPLETION_INDEX=1 needs the shard count" env JOB_COMPLETION_INDEX=1 "$TV_SUPERVISOR" run run.ini
bad "submit with --array=0-3" env SLURM_ARRAY_TASK_ID=4 SLURM_ARRAY_TASK_COUNT=4 "$TV_SUPERVISOR" run run.ini
bad "--shards 3 without a shard index" "$TV_SUPERVISOR" run run.ini --shards 3
set +e
"$TV_SUPERVISOR" run run.ini --shard >bad.out 2>&1
rc=$?
set -e
expect_eq "exit status of --shard without a value" "$rc" 64
grep -q "shard needs a value" bad.out || fail "--shard without a value: $(cat bad.out)"
echo "ok"
