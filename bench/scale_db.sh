#!/usr/bin/env bash
# A synthetic database of N tickers (default 500) for the scale benches
# (bench/report_scale.sh, bench/status_scale.sh): BUILD's supervisor runs
# its protocol-speaking stand-in worker (tests/sup_fake_worker, 20
# episodes) over N tickers, then long series are added with sqlite3: per
# ticker a second, earlier attempt killed over budget, 2 attempts x 3000
# memory samples, 1000 loss samples, and random out-of-sample results.
# Writes DIR/data, DIR/run.ini and DIR/out/tickervisor.db.
#   bench/scale_db.sh BUILD DIR [N]
set -euo pipefail
BUILD=$(realpath "$1") DIR=$2 N=${3:-500}
SRC=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DIR/data"
cd "$DIR"
for i in $(seq -w 0 $((N - 1))); do ln -sf "$SRC/examples/data/GOOG.csv" "data/T$i.csv"; done
cat >run.ini <<INI
[run]
name = scale
data_dir = $PWD/data
out_dir = out
parallel = 4
[budget]
rss = 1GiB
INI
FAKE_EPISODES=20 "$BUILD/supervisor/tickervisor" run run.ini \
	--worker "$BUILD/tests/sup_fake_worker" >scale-run.out 2>&1
python3 - out/tickervisor.db <<'PY'
import random, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
random.seed(1)
jobs = db.execute("select id from jobs").fetchall()
for (jid,) in jobs:
    a1 = db.execute("select id, started_at from attempts where job_id=?", (jid,)).fetchone()
    # a second, earlier attempt killed over budget at twice the batch
    cur = db.execute("insert into attempts(job_id, run_id, pid, batch_size, started_at, ended_at,"
                     " exit_kind, peak_rss) values(?, 1, 1, 64, ?, ?, 'over-budget', ?)",
                     (jid, a1[1] - 400, a1[1] - 100, 1100 << 20))
    for aid, t0, top in ((cur.lastrowid, a1[1] - 400, 1100), (a1[0], a1[1], 700)):
        db.executemany("insert into mem_samples values(?,?,?,0,0,0,0,0)",
                       [(aid, t0 + k * 0.1, int((top * min(1, k / 2500) + random.random() * 20) * 1048576))
                        for k in range(3000)])
    db.executemany("insert into loss_samples values(?,?,0,?,0,?,?,0,?)",
                   [(a1[0], a1[1] + k, k, k, 1 / (1 + k * 0.01) + random.random() * 0.1,
                     random.gauss(0, 5)) for k in range(1000)])
    rid = db.execute("select max(id) from results where job_id=?", (jid,)).fetchone()[0]
    if rid is None:
        continue
    db.execute("update results set total_return=?, buy_hold_return=?, sharpe=?, max_drawdown=?,"
               " test_days=250 where id=?", (random.gauss(0.1, 0.2), random.gauss(0.1, 0.2),
                                             random.gauss(0.5, 0.5), random.random() * 0.4, rid))
db.commit()
PY
