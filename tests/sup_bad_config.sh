#!/bin/sh
# Bad configuration values: `tickervisor run` names the file, the line and
# the key (or the --set), exits 2, creates no database and spawns no worker.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"

# A worker wrapper that leaves a mark if the supervisor ever starts one.
cat >worker.sh <<EOF2
#!/bin/sh
touch "$T/spawned"
exec "$TV_WORKER" "\$@"
EOF2
chmod +x worker.sh
export TV_WORKER="$T/worker.sh"

# run_bad NAME EXPECT_PATTERN... : runs with run.ini (+ args after --),
# expects exit 2 and every pattern in the error output.
check_bad() {
	name=$1
	shift
	set +e
	"$TV_SUPERVISOR" run run.ini "$@" >"$name.out" 2>&1
	rc=$?
	set -e
	expect_eq "$name: exit status" "$rc" 2
	[ ! -e out/tickervisor.db ] || fail "$name: a database was created"
	[ ! -e spawned ] || fail "$name: a worker was started"
	[ ! -e out/workers.log ] || fail "$name: a worker log was opened"
}

# 1. A size that does not parse, in the file.
write_config run.ini "[budget]\nrss = 12 parsecs"
line=$(grep -n 'parsecs' run.ini | cut -d: -f1)
check_bad size
grep -q "run.ini:$line:" size.out || fail "size: no 'run.ini:$line:' in: $(cat size.out)"
grep -q "rss" size.out || fail "size: key not named: $(cat size.out)"

# 2. An unknown key.
write_config run.ini "[env]\ntransaction_kost = 0.01"
line=$(grep -n 'transaction_kost' run.ini | cut -d: -f1)
check_bad unknown
grep -q "run.ini:$line:" unknown.out || fail "unknown: no 'run.ini:$line:' in: $(cat unknown.out)"
grep -q "transaction_kost" unknown.out || fail "unknown: key not named: $(cat unknown.out)"

# 3. Out of range on the command line.
write_config run.ini
check_bad set --set rewts.batch_size=0
grep -q -- "--set" set.out || fail "set: origin not named: $(cat set.out)"
grep -q "batch_size" set.out || fail "set: key not named: $(cat set.out)"

# 4. Cross-field: min_batch_size above batch_size (file 32, --set 64).
check_bad cross --set rewts.min_batch_size=64
grep -q "min_batch_size" cross.out || fail "cross: key not named: $(cat cross.out)"

# 5. A GPU that does not exist (none are detected in CI; skip if some are).
if [ ! -d /proc/driver/nvidia/gpus ]; then
	write_config run.ini
	check_bad gpus --set run.gpus=7
	grep -q "gpus" gpus.out || fail "gpus: key not named: $(cat gpus.out)"
fi

# 6. Command-line mistakes: exit 64 (EX_USAGE), the mistake named, the
# usage printed, nothing created or started.
write_config run.ini
check_usage() {
	name=$1 want=$2
	shift 2
	set +e
	"$TV_SUPERVISOR" run "$@" >"$name.out" 2>&1
	rc=$?
	set -e
	expect_eq "$name: exit status" "$rc" 64
	grep -qF -- "$want" "$name.out" || fail "$name: '$want' not in: $(cat "$name.out")"
	grep -q "^usage: tickervisor run" "$name.out" || fail "$name: no usage: $(cat "$name.out")"
	[ ! -e out/tickervisor.db ] || fail "$name: a database was created"
	[ ! -e spawned ] || fail "$name: a worker was started"
}
check_usage noconfig "tickervisor run: missing CONFIG"
check_usage extra1 "unexpected argument 'extra'" run.ini extra
check_usage extra2 "unexpected argument 'one'" run.ini one two
check_usage setnovalue "--set needs a value" run.ini --set
check_usage unknownopt "option '--frobnicate' is unknown" --frobnicate run.ini

# The same configuration without the error runs (so the checks above can
# fail for the right reason only).
write_config run.ini
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG >good.out 2>&1 || fail "good config failed"
[ -e spawned ] || fail "good config: no worker started"
expect_eq "good: done jobs" "$(q out/tickervisor.db "select count(*) from jobs where state='done'")" 1
echo "ok"
