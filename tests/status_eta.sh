#!/bin/sh
# status's ETA for a running job by value: it counts the episodes left from
# where the job is (done), at the rate of its current attempt (episodes
# since the attempt's start over the time since), so a resumed attempt's
# rate is not diluted by the episodes its checkpoint brought; a job's
# percent never passes 100. The job rows are set with sqlite3 on a
# database a real run wrote.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
FAKE_EPISODES=4 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG \
	--worker "$TV_BUILD_ROOT/tests/sup_fake_worker" >run.out 2>&1 || fail "run: $(tail -3 run.out)"
DB=out/tickervisor.db
eta() {
	"$TV_SUPERVISOR" status --json $DB | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(d["jobs"][0]["eta_s"], d["totals"]["eta_s"])'
}
# Resumed at episode 5, at 8 of 20 after 30 s: 3 episodes in 30 s, 12 left.
q $DB "update jobs set state = 'running', done_episodes = 8, total_episodes = 20, progress_at = 1000030;
	update attempts set started_at = 1000000, start_episodes = 5, ended_at = NULL, exit_kind = NULL
	where id = (select last_attempt_id from jobs)"
expect_eq "ETA (job, total) of a resumed attempt" "$(eta)" "120 120"
# No episode yet in this attempt: no rate, no ETA.
q $DB "update jobs set done_episodes = 5"
expect_eq "ETA before the attempt's first episode" "$(eta)" "None None"
# A job whose recorded progress passed its size (a worker's frames said
# so) is at 100%, not more, in the row and in the table.
q $DB "update jobs set state = 'done', done_episodes = 25, total_episodes = 20"
expect_eq "percent of 25 of 20" "$("$TV_SUPERVISOR" status --json $DB | python3 -c 'import json, sys
print(json.load(sys.stdin)["jobs"][0]["percent"])')" "100"
"$TV_SUPERVISOR" status $DB >table.out 2>&1 || fail "status: $(cat table.out)"
grep -q "25/20 *100.0%" table.out || fail "the table's row: $(grep GOOG table.out)"
echo "ok"
