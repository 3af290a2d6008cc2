#!/bin/sh
# Issue 10, live view: `tickervisor status --watch` in a real terminal
# (tmux, 80x30) over a 60-ticker run (a protocol-speaking stand-in worker,
# 10 episodes of 60 ms each, two at a time). While it runs, the pane shows
# the run line, the running rows first, a summary line of the rest and the
# totals with an ETA; the overall percentage counts the unstarted tickers
# at the size of the started ones; no column is cut at 80 columns, and a
# reason longer than the row is wrapped onto lines of its own. The
# view redraws in place (one clear at the start, then cursor home and
# clear to end of line), redraws on a resize at once (a 5 s interval would
# not), and --watch exits 0 when the run is over.
. "$TV_SOURCE_ROOT/tests/lib.sh"
command -v tmux >/dev/null 2>&1 || skip "tmux not installed (tests/install-deps.sh installs it)"
cd "$T"
mkdir data
i=0
while [ $i -lt 60 ]; do
	ln -s "$DATA/GOOG.csv" "data/T$(printf %02d $i).csv"
	i=$((i + 1))
done
write_config run.ini
sed -i "s|^data_dir = .*|data_dir = $T/data|" run.ini
"$TV_SUPERVISOR" status --help >help.out || fail "status --help exit $?"
grep -q "usage: tickervisor status" help.out || fail "status --help: $(cat help.out)"
"$TV_SUPERVISOR" --version | grep -Eq '^tickervisor [0-9]+\.[0-9]+' || fail "--version"

FAKE_EPISODES=10 FAKE_SLEEP_MS=60 "$TV_SUPERVISOR" run run.ini \
	--worker "$TV_BUILD_ROOT/tests/sup_fake_worker" >run.out 2>&1 &
sup=$!
DB=out/tickervisor.db
wait_for $DB "select count(*) from jobs where state='done'" 60
SOCK="$T/tmux.sock"
tm() { tmux -S "$SOCK" "$@"; }
# The view starts once the pane is piped to raw.log, so its first frame
# (the one clear of the screen) is in it.
tm -f /dev/null new-session -d -x 80 -y 30 -s tv \
	"while [ ! -f $T/go ]; do sleep 0.05; done; '$TV_SUPERVISOR' status --watch --interval 5 $DB; echo EXIT=\$? >$T/exit.txt; sleep 60"
tm pipe-pane -t tv -o "cat >>$T/raw.log"
touch "$T/go"
# The first frame, then one redraw (5 s): both are in raw.log.
sleep 1
tm capture-pane -t tv -p >pane1.txt
done_now=$(q $DB "select sum(done_episodes) from jobs")
python3 - pane1.txt "$done_now" <<'PY' || fail "pane: $(cat pane1.txt)"
import re, sys
lines = open(sys.argv[1]).read().split("\n")
done_db = int(sys.argv[2])
# The run line, wrapped rather than cut at 80 columns.
assert lines[0].startswith("out/tickervisor.db: run 1 'status_tmux' on "), lines[0]
assert re.match(r"  started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, running$", lines[1].rstrip()), lines[1]
lines = lines[1:]
# What the run waits for (a worker slot here: no memory budget) may stand
# between the run line and the table.
while lines[1].startswith("pending: waiting for "):
    del lines[1]
# Every column but the reason fits in 80 columns, ETA included.
assert lines[1].split()[:10] == ["TICKER", "STATE", "ATT", "BATCH", "EPISODES", "%", "RSS",
                                 "PEAK", "%BUD", "ETA"], lines[1]
rows = [l for l in lines[2:] if re.match(r"T\d\d ", l)]
states = [r.split()[1] for r in rows]
# Running rows first (two workers), then the rest.
assert states[:2] == ["running", "running"] or states[:1] == ["running"], states
assert "running" not in states[states.index(next(s for s in states if s != "running")):], states
summary = [l for l in lines if l.startswith("... ")]
assert summary and re.match(r"\.\.\. \d+ more jobs:( \d+ (pending|done))+", summary[0]), summary
total = [l + lines[i + 1] for i, l in enumerate(lines) if l.startswith("total: 60 jobs")]
assert total, lines
m = re.search(r"(\d+)/~?(\d+) episodes \(([\d.]+)%\); ETA (\S+)", total[0])
assert m, total[0]
shown, est, pct = int(m.group(1)), int(m.group(2)), float(m.group(3))
# Sized right from the start: 60 tickers x 10 episodes.
assert est == 600, total[0]
assert abs(pct - 100.0 * shown / 600) < 0.06 and shown <= done_db, (total[0], done_db)
assert m.group(4) != "-", total[0]
# Rows keep every column up to the ETA inside 80 columns.
for r in rows:
    f = r.split()
    assert len(f) >= 10 and f[1] in ("running", "pending", "done"), r
PY
# A resize redraws at once (the interval is 5 s): at 120 columns the
# progress bars appear.
tm resize-window -t tv -x 120 -y 30
sleep 1
tm capture-pane -t tv -p >pane2.txt
grep -q '\[[#.]\{20\}\]' pane2.txt || fail "no redraw on SIGWINCH: $(cat pane2.txt)"
wait "$sup" || fail "run failed: $(tail run.out)"
n=0
while [ ! -f exit.txt ] && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
[ -f exit.txt ] || fail "--watch did not exit after the run ended"
expect_eq "status --watch exit" "$(cat exit.txt)" "EXIT=0"
tm capture-pane -t tv -p >pane3.txt
grep -q "total: 60 jobs: 0 running, 0 pending, 60 done, 0 failed; 600/600 episodes (100.0%)" pane3.txt ||
	fail "final frame: $(cat pane3.txt)"

# A reason longer than a row: a ticker whose CSV has no close column in a
# folder with a long name fails at start, and the reason names the file.
# At 80 columns it is wrapped onto lines of its own, not cut; into a pipe it
# is one line.
LONG="$T/prices-kept-in-a-folder-whose-name-is-long"
mkdir "$LONG"
ln -s "$DATA/GOOG.csv" "$LONG/GOOG.csv"
printf 'date,open\n2020-01-02,1\n' >"$LONG/NOCLOSE.csv"
set +e
"$TV_SUPERVISOR" run run.ini --set run.data_dir="$LONG" --set run.out_dir=long --db long.db \
	--worker "$TV_BUILD_ROOT/tests/sup_fake_worker" >long.out 2>&1
set -e
q long.db "select last_reason from jobs where ticker = 'NOCLOSE'" >reason.txt
grep -q "prices-kept-in-a-folder-whose-name-is-long/NOCLOSE.csv:1: header: missing column 'close'" reason.txt ||
	fail "reason: $(cat reason.txt)"
tm -f /dev/null new-session -d -x 80 -y 30 -s long "'$TV_SUPERVISOR' status --no-color $T/long.db; echo STATUS-DONE; sleep 60"
n=0
until tm capture-pane -t long -p >pane4.txt && grep -q STATUS-DONE pane4.txt; do
	[ $n -lt 100 ] || fail "status in the second window: $(cat pane4.txt)"
	sleep 0.1
	n=$((n + 1))
done
"$TV_SUPERVISOR" status "$T/long.db" >pipe.txt
python3 - pane4.txt pipe.txt reason.txt <<'PY' || fail "long reason: $(cat pane4.txt)"
import sys
pane = open(sys.argv[1]).read().split("\n")
pipe = open(sys.argv[2]).read()
reason = open(sys.argv[3]).read().rstrip("\n")
assert len(reason) > 100, reason
assert all(len(l) <= 80 for l in pane), max(pane, key=len)
# The row, then its reason's continuation lines (indented); joined, they
# are the whole reason, a space dropped at each break only.
row = next(i for i, l in enumerate(pane) if l.startswith("NOCLOSE "))
pieces = []
for l in pane[row + 1:]:
    if not l.startswith("    ") or not l.strip():
        break
    pieces.append(l.strip())
pos = 0
for p in pieces:
    assert reason.startswith(p, pos), (p, reason[pos:])
    pos += len(p)
    if reason[pos:pos + 1] == " ":
        pos += 1
assert pos == len(reason), (pieces, reason)
# Not a terminal: the reason whole on the row's line.
line = next(l for l in pipe.split("\n") if l.startswith("NOCLOSE "))
assert line.endswith(" " + reason), line
PY
tm kill-server 2>/dev/null || true
[ -z "${TV_SHOW:-}" ] || cat pane1.txt pane2.txt pane4.txt >"$TV_SHOW"
python3 - raw.log <<'PY' || fail "raw output"
import sys
raw = open(sys.argv[1], "rb").read()
# Cleared once; later frames go home and clear each line to its end.
assert raw.count(b"\x1b[2J") == 1, raw.count(b"\x1b[2J")
assert raw.count(b"\x1b[H") >= 3, raw.count(b"\x1b[H")
assert raw.count(b"\x1b[K") > 30, raw.count(b"\x1b[K")
PY
echo "ok"
