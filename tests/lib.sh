# Helpers for the supervisor end-to-end tests (tests/sup_*.sh): sourced.
#
# Each test gets its own folder $T (mktemp -d) holding its configuration,
# outputs and databases; on exit every process whose command line names
# $T is killed (by pid) and the folder is removed. The tests run the real
# binaries from the environment meson gives them: $TV_SUPERVISOR,
# $TV_WORKER, $TV_SOURCE_ROOT. They read outcomes from the database with
# the sqlite3 command line tool. Exit 77 = skipped.
set -eu

: "${TV_SUPERVISOR:?TV_SUPERVISOR is not set (run through meson test)}"
: "${TV_WORKER:?TV_WORKER is not set}"
: "${TV_SOURCE_ROOT:?TV_SOURCE_ROOT is not set}"
export TV_WORKER

DATA="$TV_SOURCE_ROOT/examples/data"
T=$(mktemp -d "${TMPDIR:-/tmp}/tv-sup.XXXXXX")
TEST_NAME=$(basename "$0" .sh)

command -v sqlite3 >/dev/null 2>&1 || { echo "SKIP: sqlite3 not installed"; exit 77; }
[ -f "$DATA/GOOG.csv" ] || { echo "SKIP: no $DATA/GOOG.csv"; exit 77; }

tv_cleanup() {
	rc=$?
	for p in $(pgrep -f "$T" 2>/dev/null || true); do
		kill -9 "$p" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for f in "$T"/*.out; do
			[ -f "$f" ] || continue
			echo "--- $f (last 40 lines)"
			tail -n 40 "$f"
		done
	fi
	[ -n "${TV_KEEP:-}" ] || rm -rf "$T"
	exit "$rc"
}
trap tv_cleanup EXIT

fail() {
	echo "FAIL [$TEST_NAME]: $*" >&2
	exit 1
}

skip() {
	echo "SKIP [$TEST_NAME]: $*"
	exit 77
}

# q DB SQL: one query, values separated by '|', no header.
q() {
	sqlite3 -batch -noheader "$1" "$2"
}

# expect_eq WHAT GOT WANT
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# write_config FILE [EXTRA_LINES]: a tiny configuration that trains in a
# second or two per ticker (hidden 16,16; 60-day chunks; 4 episodes).
# EXTRA_LINES are appended verbatim (whole sections, e.g. "[budget]\nrss=..").
write_config() {
	cat >"$1" <<EOF
[run]
name = $TEST_NAME
data_dir = $DATA
out_dir = out
parallel = 2
max_attempts = 3
hang_timeout = 20
backoff = 0.1
checkpoint_every = 1
heartbeat = 0.2

[rewts]
hidden = 16,16
batch_size = 32
min_batch_size = 8
buffer_size = 2000
chunk_length = 60
episodes_per_chunk = 4
lookback_length = 20
fit_weights_every = 20
EOF
	if [ $# -ge 2 ]; then
		printf '%b\n' "$2" >>"$1"
	fi
}

# wait_for DB SQL [SECONDS]: polls until the query prints a non-empty,
# non-zero value; fails after SECONDS (default 60).
wait_for() {
	_n=$(( ${3:-60} * 10 ))
	while [ "$_n" -gt 0 ]; do
		if [ -f "$1" ]; then
			_v=$(q "$1" "$2" 2>/dev/null || true)
			if [ -n "$_v" ] && [ "$_v" != "0" ]; then
				return 0
			fi
		fi
		sleep 0.1
		_n=$((_n - 1))
	done
	fail "timed out waiting for: $2"
}

# workers_alive: pids of processes whose command line names $T.
workers_alive() {
	pgrep -f "$T" 2>/dev/null || true
}

# no_worker_left: fails unless every process naming $T is gone within 5 s
# (after the supervisor's SIGKILL, its workers must not outlive it).
no_worker_left() {
	_n=50
	while [ -n "$(workers_alive)" ] && [ $_n -gt 0 ]; do
		sleep 0.1
		_n=$((_n - 1))
	done
	[ -z "$(workers_alive)" ] || fail "workers survived the supervisor: $(workers_alive)"
}
