#!/bin/sh
# A hostile worker (tests/sup_hostile_worker.c, issue 7 section 4 and 3):
# each misbehaviour gets the outcome the issue names, the supervisor stays
# responsive (every run is bounded by `timeout`) and nothing of the
# worker's outlives the run.
. "$TV_SOURCE_ROOT/tests/lib.sh"
: "${TV_HOSTILE_WORKER:?TV_HOSTILE_WORKER is not set (run through meson test)}"
cd "$T"
write_config run.ini
sed -i 's/^hang_timeout = 20/hang_timeout = 2/' run.ini

# hostile MODE [--set ...]: one ticker (GOOG) with the hostile worker in
# MODE, database MODE.db, out_dir out-MODE, log MODE.out; sets $rc.
hostile() {
	_m=$1
	shift
	set +e
	HOSTILE_MODE=$_m HOSTILE_ONCE="$T/once-$_m" timeout 60 "$TV_SUPERVISOR" run run.ini \
		--worker "$TV_HOSTILE_WORKER" --db "$_m.db" --set run.out_dir="out-$_m" \
		--set run.tickers=GOOG "$@" >"$_m.out" 2>&1
	rc=$?
	set -e
	[ "$rc" -ne 124 ] || fail "$_m: the supervisor did not finish within 60 s"
	[ -z "$(workers_alive)" ] || fail "$_m: processes left after the run: $(workers_alive)"
}
attempts() {
	q "$1.db" "select group_concat(exit_kind||':'||charged, ' ') from attempts order by id"
}

# A grandchild holds the report pipe after the worker exited: the attempt
# ends about a second later, done, and the grandchild is killed.
start=$(date +%s)
hostile grandchild
expect_eq "grandchild: exit status" "$rc" 0
expect_eq "grandchild: attempts" "$(attempts grandchild)" "done:0"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "grandchild: the run waited for the grandchild"
grep -qE "report pipe stayed open|escaped descendant" grandchild.out ||
	fail "grandchild: no log line for the held pipe"

# A child escapes with setsid: it comes back to the supervisor (subreaper)
# and is killed; the run ends done.
hostile setsid
expect_eq "setsid: exit status" "$rc" 0
expect_eq "setsid: attempts" "$(attempts setsid)" "done:0"

# Children holding memory count against budget.rss (2 x 100 MiB > 150 MiB).
hostile forkmem --set budget.rss=150MiB
expect_eq "forkmem: exit status" "$rc" 0
expect_eq "forkmem: attempts" "$(attempts forkmem)" "over-budget:0 done:0"
peak=$(q forkmem.db "select peak_rss from attempts where id=1")
[ "$peak" -gt $((150 * 1024 * 1024)) ] || fail "forkmem: peak $peak is not over the budget"

# Exit 10 without being asked: a charged crash, not a free retry.
hostile exit10
expect_eq "exit10: attempts" "$(attempts exit10)" "crash:1 done:0"
q exit10.db "select reason from attempts where id=1" | grep -q "nobody asked it to stop" ||
	fail "exit10: reason: $(q exit10.db 'select reason from attempts where id=1')"

# Exit 0 without a result: a protocol error, retried.
hostile exit0
expect_eq "exit0: attempts" "$(attempts exit0)" "protocol-error:1 done:0"
q exit0.db "select reason from attempts where id=1" | grep -q "exited 0 without a result" ||
	fail "exit0: reason: $(q exit0.db 'select reason from attempts where id=1')"

# The result delivered, then a hang: killed after hang_timeout, done.
hostile resulthang
expect_eq "resulthang: exit status" "$rc" 0
expect_eq "resulthang: attempts" "$(attempts resulthang)" "done:0"
expect_eq "resulthang: state" "$(q resulthang.db "select state from jobs")" done

# A model outside out_dir, or with a wrong checksum: protocol errors.
hostile outside
expect_eq "outside: attempts" "$(attempts outside)" "protocol-error:1 done:0"
q outside.db "select reason from attempts where id=1" | grep -q "outside run.out_dir" ||
	fail "outside: reason: $(q outside.db 'select reason from attempts where id=1')"
hostile badsum
expect_eq "badsum: attempts" "$(attempts badsum)" "protocol-error:1 done:0"
q badsum.db "select reason from attempts where id=1" | grep -q "checksum" ||
	fail "badsum: reason: $(q badsum.db 'select reason from attempts where id=1')"

hostile nomodel
expect_eq "nomodel: attempts" "$(attempts nomodel)" "protocol-error:1 done:0"
q nomodel.db "select reason from attempts where id=1" | grep -q "No such file" ||
	fail "nomodel: reason: $(q nomodel.db 'select reason from attempts where id=1')"
hostile ckptout
expect_eq "ckptout: attempts" "$(attempts ckptout)" "protocol-error:1 done:0"
q ckptout.db "select reason from attempts where id=1" | grep -q "checkpoint .* is outside run.out_dir" ||
	fail "ckptout: reason: $(q ckptout.db 'select reason from attempts where id=1')"
expect_eq "ckptout: no checkpoint recorded" "$(q ckptout.db "select count(*) from checkpoints")" 0
# OUT/GOOG.ckpt a symlink to a file outside out_dir, with a valid
# OUT/GOOG.ckpt.prev: the frame is judged by where OUT/GOOG.ckpt leads (not
# by its .prev) and refused; the retry does not resume from the refused
# file either, but from the .prev (CRC-32 43c9ab56, its content's), and
# only that is recorded.
hostile ckptlink
out=$(pwd -P)/out-ckptlink
expect_eq "ckptlink: attempts" "$(attempts ckptlink)" "protocol-error:1 done:0"
reason=$(q ckptlink.db "select reason from attempts where id=1")
case "$reason" in
"protocol error: checkpoint '$out/GOOG.ckpt' is outside run.out_dir; attempt 1 of 3, retry in "*) ;;
*) fail "ckptlink: reason: '$reason'" ;;
esac
expect_eq "ckptlink: the retry resumes from the .prev" "$(q ckptlink.db "select resume from attempts where id=2")" \
	"resuming from $out/GOOG.ckpt.prev (checksum 43c9ab56 holds; the database had recorded no checkpoint: corrected); checkpoint $out/GOOG.ckpt is outside run.out_dir: not used"
expect_eq "ckptlink: recorded checkpoints" "$(q ckptlink.db "select group_concat(path||' '||checksum, ',') from checkpoints")" \
	"$out/GOOG.ckpt.prev $((0x43c9ab56))"

# A number out of range (episode 1e18) is not stored.
hostile bignum
expect_eq "bignum: attempts" "$(attempts bignum)" "protocol-error:1 done:0"
q bignum.db "select reason from attempts where id=1" | grep -q "episode = 1000000000000000000 out of range" ||
	fail "bignum: reason: $(q bignum.db 'select reason from attempts where id=1')"
expect_eq "bignum: no negative progress" "$(q bignum.db "select count(*) from jobs where episode < 0")" 0

# A negative count of skipped price rows in the hello is out of range.
hostile badskip
expect_eq "badskip: attempts" "$(attempts badskip)" "protocol-error:1 done:0"
q badskip.db "select reason from attempts where id=1" | grep -q "hello frame: skipped_rows = -3 out of range" ||
	fail "badskip: reason: $(q badskip.db 'select reason from attempts where id=1')"

# Terminal escapes and newlines from a worker reach neither the log nor the
# database raw.
hostile ctrl
expect_eq "ctrl: exit status" "$rc" 1
expect_eq "ctrl: attempts" "$(attempts ctrl)" "bad-input:1"
if grep -q "$(printf '\033')" ctrl.out; then fail "ctrl: raw ESC in the log"; fi
grep -q '^FAKE' ctrl.out && fail "ctrl: a worker's newline started a log line"
q ctrl.db "select reason from attempts" | grep -q 'x1b\[2J' ||
	fail "ctrl: reason not escaped: $(q ctrl.db 'select reason from attempts')"

# A frame flood: bounded rows in the database and lines in the log.
HOSTILE_SECONDS=3 hostile flood
expect_eq "flood: attempts" "$(attempts flood)" "done:0"
loss=$(q flood.db "select count(*) from loss_samples")
ckpts=$(q flood.db "select count(*) from checkpoints")
lines=$(wc -l <flood.out)
echo "flood: $loss progress rows, $ckpts checkpoint rows, $lines log lines"
# At most 200 rows per second (all kinds together), over about 4 s.
[ "$loss" -le 1000 ] || fail "flood: $loss progress rows for a 3 s flood"
[ "$ckpts" -le 1000 ] || fail "flood: $ckpts checkpoint rows for a 3 s flood"
# Bounded, not dropped: the checkpoint (one file, never a .prev beside it)
# is recorded.
[ "$ckpts" -ge 1 ] || fail "flood: no checkpoint recorded"
[ "$lines" -le 1100 ] || fail "flood: $lines log lines for a 3 s flood"

# An out_dir too long for the paths the protocol carries is refused at the
# start, naming the key, instead of truncating checkpoint paths later.
long="$T/$(printf 'd%.0s' $(seq 1 230))"
set +e
"$TV_SUPERVISOR" run run.ini --set run.out_dir="$long" --set run.tickers=GOOG >long.out 2>&1
rc=$?
set -e
expect_eq "long out_dir: exit status" "$rc" 2
grep -q "run.out_dir .* at most 255 fit" long.out || fail "long out_dir: $(cat long.out)"
echo "ok"
