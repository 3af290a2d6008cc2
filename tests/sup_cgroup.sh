#!/bin/sh
# The worker's whole tree is held by a cgroup v2 folder per attempt
# (issue 7, supervisor/cgroup.h): a grandchild that left the worker's
# process group and session with setsid() while its supervisor was
# SIGKILLed is killed when the next supervisor starts on the database, and
# no cgroup folder is left behind after that, after a normal run or after
# a SIGINT. Skipped where cgroup v2 is not writable (not root, read-only
# /sys/fs/cgroup): there the process group and the subreaper hold the
# tree alone (tests/sup_lifecycle.sh).
. "$TV_SOURCE_ROOT/tests/lib.sh"
: "${TV_HOSTILE_WORKER:?TV_HOSTILE_WORKER is not set (run through meson test)}"
cd "$T"

# The cgroup2 mount as the supervisor finds it: /sys/fs/cgroup when that is
# cgroup2, else the first cgroup2 mount; our own cgroup's folder in it.
mounts=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5; break } }' \
	/proc/self/mountinfo)
root=$(echo "$mounts" | grep -x /sys/fs/cgroup || echo "$mounts" | head -n 1)
[ -n "$root" ] || skip "no cgroup2 file system is mounted"
own=$(sed -n 's/^0:://p' /proc/self/cgroup)
probe="$root${own%/}/tv-probe-$$"
mkdir "$probe" 2>/dev/null && rmdir "$probe" ||
	skip "cgroup v2 at $root is not writable here ($(id -un)); the supervisor falls back to process groups"

write_config run.ini
HW="--worker $TV_HOSTILE_WORKER --set run.tickers=GOOG"

# alive PID: the process exists and is not a zombie.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	[ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}
# wait_dead PID SECONDS: bounded poll until PID is gone (or a zombie).
wait_dead() {
	_n=$(( $2 * 20 ))
	while alive "$1" && [ "$_n" -gt 0 ]; do
		sleep 0.05
		_n=$((_n - 1))
	done
	! alive "$1"
}
# wait_file FILE SECONDS
wait_file() {
	_n=$(( $2 * 20 ))
	while [ ! -s "$1" ] && [ "$_n" -gt 0 ]; do
		sleep 0.05
		_n=$((_n - 1))
	done
	[ -s "$1" ] || fail "timed out waiting for $1"
}
# no_cgroups_left DB: every cgroup folder the database recorded (runs and
# attempts) is gone, and at least one was recorded.
no_cgroups_left() {
	_paths=$(q "$1" "select cgroup from runs where cgroup != '' union all
		select cgroup from attempts where cgroup != ''")
	[ -n "$_paths" ] || fail "$1: no cgroup recorded (the supervisor used none): $(grep 'process trees' "$2")"
	for _p in $_paths; do
		case "$_p" in "$root"/*) ;; *) fail "$1: recorded cgroup $_p is not under $root" ;; esac
		[ ! -e "$_p" ] || fail "$1: cgroup $_p left behind: $(cat "$_p/cgroup.procs" 2>/dev/null | tr '\n' ' ')"
	done
}

# --- The supervisor SIGKILLed while its worker's grandchild has left with
# setsid(): the rerun kills the grandchild (by pid) and removes the folders.
# The worker forks at once: it starts in its attempt's cgroup (joined
# before its exec), so even its first fork is inside.
HOSTILE_MODE=escape HOSTILE_PIDFILE="$T/esc.pid" "$TV_SUPERVISOR" run run.ini \
	$HW --db kill.db --set run.out_dir=out-kill >kill1.out 2>&1 &
sup=$!
wait_file esc.pid 30
esc=$(cat esc.pid)
alive "$esc" || fail "kill: the escapee $esc is not running"
grep -q "sup_hostile_worker" "/proc/$esc/cmdline" || fail "kill: pid $esc is not the escapee"
[ "$(sed 's/^.*) //' "/proc/$esc/stat" | cut -d' ' -f4)" = "$esc" ] ||
	fail "kill: the escapee $esc does not lead a session of its own"
grep -q "^0::.*/tickervisor-[0-9]*-[0-9]*/attempt-[0-9]*\$" "/proc/$esc/cgroup" ||
	fail "kill: the escapee is not in its attempt's cgroup: $(cat "/proc/$esc/cgroup")"
kill -9 $sup
wait $sup 2>/dev/null || true
alive "$esc" || fail "kill: the escapee died with its supervisor (nothing left to test)"
"$TV_SUPERVISOR" run run.ini $HW --db kill.db --set run.out_dir=out-kill >kill2.out 2>&1 ||
	fail "kill: the rerun failed"
wait_dead "$esc" 5 || fail "kill: the escapee $esc outlived the rerun: $(tr '\0' ' ' <"/proc/$esc/cmdline")"
echo "kill: the setsid() escapee $esc of a SIGKILLed supervisor was killed by the rerun"
grep -q "killed [1-9][0-9]* process.* left in the cgroups of 1 earlier run" kill2.out ||
	fail "kill: the rerun did not report the leftover cgroup: $(cat kill2.out)"
expect_eq "kill: done after the rerun" "$(q kill.db "select state from jobs")" done
no_cgroups_left kill.db kill2.out

# --- A normal run whose worker leaves a setsid() child behind: killed with
# its attempt's cgroup at the end of the attempt, nothing left.
HOSTILE_MODE=setsid HOSTILE_PIDFILE="$T/setsid.pid" "$TV_SUPERVISOR" run run.ini $HW \
	--db normal.db --set run.out_dir=out-normal >normal.out 2>&1 || fail "normal: run failed"
wait_file setsid.pid 5
wait_dead "$(cat setsid.pid)" 5 || fail "normal: the setsid() child outlived the run"
expect_eq "normal: done" "$(q normal.db "select state from jobs")" done
no_cgroups_left normal.db normal.out
grep -q "process trees: a cgroup per attempt in $root" normal.out ||
	fail "normal: the log does not say what holds the process trees: $(head -5 normal.out)"

# --- SIGINT while the escapee runs: the supervisor stops cleanly (exit 0)
# and neither the escapee nor a folder is left.
HOSTILE_MODE=escape HOSTILE_PIDFILE="$T/int.pid" "$TV_SUPERVISOR" run run.ini \
	$HW --db int.db --set run.out_dir=out-int >int.out 2>&1 &
sup=$!
wait_file int.pid 30
kill -INT $sup
set +e
wait $sup
rc=$?
set -e
expect_eq "int: exit status after SIGINT" "$rc" 0
wait_dead "$(cat int.pid)" 5 || fail "int: the escapee outlived the run"
no_cgroups_left int.db int.out

# --- The real worker: a run of two tickers leaves no folder either.
"$TV_SUPERVISOR" run run.ini --db real.db --set run.out_dir=out-real \
	--set run.tickers=GOOG,MSFT >real.out 2>&1 || fail "real: run failed"
expect_eq "real: done" "$(q real.db "select count(*) from jobs where state = 'done'")" 2
no_cgroups_left real.db real.out

# --- Where cgroup v2 is read-only (its mount remounted so in a mount
# namespace of the run's own) the supervisor says so once and falls back
# to process groups and the subreaper: the setsid() child is still gone at
# the end, and no cgroup is recorded.
if unshare -m --propagation private true 2>/dev/null; then
	HOSTILE_MODE=setsid HOSTILE_PIDFILE="$T/ro.pid" unshare -m --propagation private sh -c \
		'mount -o remount,bind,ro "$1" && shift && exec "$@"' sh "$root" \
		"$TV_SUPERVISOR" run run.ini $HW --db ro.db --set run.out_dir=out-ro >ro.out 2>&1 ||
		fail "ro: run failed"
	expect_eq "ro: done" "$(q ro.db "select state from jobs")" done
	expect_eq "ro: mechanism lines" "$(grep -c 'process trees:' ro.out)" 1
	grep -q "process trees: process groups and the subreaper only (no cgroup v2: mkdir .*tickervisor-.*: Read-only file system)" ro.out ||
		fail "ro: the log does not say why there is no cgroup: $(grep 'process trees' ro.out)"
	expect_eq "ro: cgroups recorded" "$(q ro.db "select count(*) from runs where cgroup != ''")|$(q ro.db "select count(*) from attempts where cgroup != ''")" "0|0"
	wait_file ro.pid 5
	wait_dead "$(cat ro.pid)" 5 || fail "ro: the setsid() child outlived the run"
else
	echo "ro: skipped (no mount namespaces here)"
fi
echo "ok"
