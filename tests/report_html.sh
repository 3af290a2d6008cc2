#!/bin/sh
# Issue 10: `tickervisor report` over two shard databases, checked by value
# and rendered in a real headless Chromium.
# - shard A: the real worker trains GOOG and AAPL;
# - shard B: a worker that touches 48 MiB under budget.rss = 24 MiB is
#   killed over budget, halved, killed again down to the floor: the sample
#   that crossed the budget is stored (the plot reaches above the line).
# The report has one ticker row per job of both shards, one memory, loss
# and reward plot per ticker with non-empty paths, the budget line and the
# kill markers; --csv agrees with the databases; the browser logs nothing
# to its console and the screenshot is not blank.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config a.ini
"$TV_SUPERVISOR" run a.ini --set run.tickers=GOOG,AAPL --set run.out_dir=a >a.out 2>&1 ||
	fail "run A failed: $(tail a.out)"
write_config b.ini '[budget]\nrss = 24MiB\npoll_ms = 20\nsoft_fraction = 0.9999'
FAKE_ALLOC_MB=48 FAKE_HOLD_MS=3000 "$TV_SUPERVISOR" run b.ini --set run.tickers=IBM \
	--set run.out_dir=b --set rewts.batch_size=32 --set rewts.min_batch_size=16 \
	--worker "$TV_BUILD_ROOT/tests/sup_fake_worker" >b.out 2>&1 && fail "run B should fail at the floor"
A=a/tickervisor.db B=b/tickervisor.db
expect_eq "B attempts over budget" "$(q $B "select count(*) from attempts where exit_kind='over-budget'")" 2
# The sample that triggered each kill is in mem_samples: above the budget.
expect_eq "B killed attempts with a sample above budget.rss" \
	"$(q $B "select count(*) from attempts a where a.exit_kind='over-budget' and
	          (select max(rss) from mem_samples m where m.attempt_id=a.id) > 24*1048576")" 2

"$TV_SUPERVISOR" report --help >help.out || fail "report --help exit $?"
grep -q "usage: tickervisor report" help.out || fail "report --help: $(cat help.out)"
set +e
"$TV_SUPERVISOR" report $A >noout.out 2>&1; rc=$?
set -e
expect_eq "report without -o exit" "$rc" 64
"$TV_SUPERVISOR" report $A $B -o report.html --csv csv >rep.out 2>&1 || fail "report: $(cat rep.out)"
[ ! -e report.html.tmp ] || fail "report.html.tmp left behind"

python3 - report.html csv $A $B <<'PY' || fail "report content"
import csv, html.parser, re, sqlite3, sys
page, csvdir, dbs = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(page, encoding="utf-8").read()
# Self-contained: nothing fetched from anywhere.
assert not re.search(r'(src|href)\s*=\s*"?(https?:|//)', text), "external reference"
assert "<link" not in text and "@import" not in text, "external stylesheet"

class P(html.parser.HTMLParser):
    def __init__(s):
        super().__init__(); s.rows = []; s.in_body = False; s.row = None; s.cell = None
        s.svgs = 0; s.lines = []; s.budget = 0; s.kills = 0; s.sections = []
    def handle_starttag(s, tag, a):
        a = dict(a)
        if tag == "table" and a.get("id") == "tickers": s.in_body = True
        if tag == "tr" and s.in_body: s.row = []
        if tag == "td" and s.row is not None: s.cell = ""
        if tag == "svg": s.svgs += 1
        if tag == "section": s.sections.append(a.get("id"))
        if tag == "path":
            c = a.get("class", "")
            if "line" in c.split(): s.lines.append(a.get("d", ""))
            if c == "budget": s.budget += 1
            if c == "kill": s.kills += 1
    def handle_data(s, d):
        if s.cell is not None: s.cell += d
    def handle_endtag(s, tag):
        if tag == "td" and s.row is not None: s.row.append(s.cell); s.cell = None
        if tag == "tr" and s.row is not None:
            if s.row: s.rows.append(s.row)
            s.row = None
        if tag == "table": s.in_body = False
p = P(); p.feed(text)
rows = {r[0]: r for r in p.rows}
assert set(rows) == {"GOOG", "AAPL", "IBM"}, rows.keys()
# ticker, database, state, attempts, batch that fit, peak MiB, peak/budget, time,
# return, buy & hold, excess, Sharpe, drawdown, test days, reason
assert rows["IBM"][2] == "failed" and rows["IBM"][3] == "2", rows["IBM"]
assert rows["GOOG"][2] == "done" and rows["GOOG"][4] == "32", rows["GOOG"]
ca = sqlite3.connect(dbs[0])
for t in ("GOOG", "AAPL"):
    ret, bh, sh, dd, days = ca.execute(
        "select total_return, buy_hold_return, sharpe, max_drawdown, test_days from results r"
        " join jobs j on j.id=r.job_id where ticker=?", (t,)).fetchone()
    r = rows[t]
    assert r[8] == "%.2f%%" % (100 * ret) and r[9] == "%.2f%%" % (100 * bh), (r, ret, bh)
    assert r[10] == "%.2f%%" % (100 * (ret - bh)), ("excess over buy and hold", r, ret, bh)
    assert r[11] == "%.3f" % sh and r[12] == "%.2f%%" % (100 * dd) and r[13] == str(days), r
assert len(p.sections) == 3, p.sections
# The curves reached the database: equity ends at 1 + the total return,
# buy-and-hold at 1 + its return (float precision), one point per test day;
# the weights of each refit sum to 1.
for t in ("GOOG", "AAPL"):
    rid, ret, bh, days = ca.execute("select r.id, total_return, buy_hold_return, test_days"
                                    " from results r join jobs j on j.id=r.job_id where ticker=?", (t,)).fetchone()
    pts = ca.execute("select day, equity, buy_hold from result_curve where result_id=? order by day",
                     (rid,)).fetchall()
    assert len(pts) == days + 1 and pts[0][1:] == (1.0, 1.0), (t, len(pts), days, pts[:2])
    assert abs(pts[-1][1] - (1 + ret)) < 1e-5 and abs(pts[-1][2] - (1 + bh)) < 1e-5, (t, pts[-1], ret, bh)
    sums = ca.execute("select fit, sum(weight), count(*) from result_weights where result_id=?"
                      " group by fit", (rid,)).fetchall()
    assert sums and all(abs(x[1] - 1) < 1e-4 for x in sums), (t, sums)
# Three plots per ticker (IBM, killed before its first episode, has no loss
# or reward: a "no data recorded" line), every line a real path.
# A's two tickers have a result: two more plots each (equity, weights).
assert p.svgs == 11 and text.count("no data recorded") == 2, p.svgs
assert p.lines and all(re.fullmatch(r"M[-\d.]+ [-\d.]+(L[-\d.]+ [-\d.]+)+", d) for d in p.lines), \
    [d[:40] for d in p.lines if not re.fullmatch(r"M[-\d.]+ [-\d.]+(L[-\d.]+ [-\d.]+)+", d)]
assert p.budget == 1, p.budget   # A has no budget; the IBM plot of B has the line
assert p.kills == 2, p.kills      # both kills of IBM marked
# CSV: the same numbers as the databases.
t = list(csv.DictReader(open(csvdir + "/tickers.csv", newline="")))
assert sorted(x["ticker"] for x in t) == ["AAPL", "GOOG", "IBM"], t
for x in t:
    db = sqlite3.connect(x["db"])
    st, att, peak = db.execute("select state, attempts, (select max(peak_rss) from attempts a"
                               " where a.job_id=j.id) from jobs j where ticker=?",
                               (x["ticker"],)).fetchone()
    assert (x["state"], int(x["attempts"]), int(x["peak_rss"])) == (st, att, peak), (x, st, att, peak)
a = list(csv.DictReader(open(csvdir + "/attempts.csv", newline="")))
assert len(a) == 4 and sum(r["exit_kind"] == "over-budget" for r in a) == 2, a
r = list(csv.DictReader(open(csvdir + "/runs.csv", newline="")))
assert len(r) == 2 and {x["name"] for x in r} == {"report_html"}, r
# Reals are written to round-trip: each reads back as the database's double.
for x in r:
    db = sqlite3.connect(x["db"])
    s0, e0 = db.execute("select started_at, ended_at from runs where id=?", (int(x["run"]),)).fetchone()
    assert (float(x["started_at"]), float(x["ended_at"])) == (s0, e0), (x, s0, e0)
n_results = 0
for x in t:
    db = sqlite3.connect(x["db"])
    want = db.execute("select total_return, buy_hold_return, sharpe, max_drawdown, volatility, win_rate"
                      " from results y join jobs j on j.id = y.job_id where j.ticker=?"
                      " order by y.id desc limit 1", (x["ticker"],)).fetchone()
    if want:
        n_results += 1
        got = tuple(float(x[k]) for k in ("total_return", "buy_hold_return", "sharpe",
                                          "max_drawdown", "volatility", "win_rate"))
        assert got == want, (x["ticker"], got, want)
assert n_results == 2, n_results
# The runs table: a budget that was not set reads "-", never "0.0".
# database, run, name, host, started, duration, outcome, budget.rss, budget.vram, config
runs = text.split("<h2>Runs</h2>", 1)[1].split("</tbody>", 1)[0]
cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in runs.split("<tr>")[2:]]
by_db = {c[0]: c for c in cells}
assert set(by_db) == set(dbs), by_db.keys()
assert by_db[dbs[0]][7:9] == ["-", "-"], by_db[dbs[0]][7:9]
assert by_db[dbs[1]][7:9] == ["24.0", "-"], by_db[dbs[1]][7:9]
PY

# A database path that starts with a double quote (and holds no comma):
# quoted in the CSV for the quote alone, the quote doubled, so a CSV
# reader gets the path back whole.
Q='"quoted".db'
cp $A "$Q"
"$TV_SUPERVISOR" report "$Q" -o q.html --csv qcsv >q.out 2>&1 || fail "report of $Q: $(cat q.out)"
python3 - qcsv "$Q" <<'PY' || fail "CSV quoting: $(head -3 qcsv/runs.csv)"
import csv, sys
for f in ("runs.csv", "tickers.csv", "attempts.csv"):
    rows = list(csv.DictReader(open(sys.argv[1] + "/" + f, newline="")))
    assert rows and all(r["db"] == sys.argv[2] for r in rows), (f, [r["db"] for r in rows])
PY

# A second run of A (nothing left to do) under a budget: the report's
# peak/budget column uses the last run's budget.rss.
"$TV_SUPERVISOR" run a.ini --set run.tickers=GOOG,AAPL --set run.out_dir=a \
	--set budget.rss=64MiB >a2.out 2>&1 || fail "second run of A failed: $(tail a2.out)"
"$TV_SUPERVISOR" report $A -o a2.html >rep2.out 2>&1 || fail "report of A: $(cat rep2.out)"
python3 - a2.html $A <<'PY' || fail "report of A after the second run"
import re, sqlite3, sys
text = open(sys.argv[1], encoding="utf-8").read()
db = sqlite3.connect(sys.argv[2])
rows = {}
body = text.split('id=tickers', 1)[1].split("</tbody>", 1)[0]
for row in re.findall(r"<tr class=[^>]*>(.*?)</tr>", body, re.S):
    c = [re.sub(r"<[^>]+>", "", x) for x in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    rows[c[0]] = c
assert set(rows) == {"GOOG", "AAPL"}, rows.keys()
for t in ("GOOG", "AAPL"):
    peak = db.execute("select max(a.peak_rss) from attempts a join jobs j on j.id=a.job_id"
                      " where ticker=?", (t,)).fetchone()[0]
    assert peak > 0 and rows[t][5] == "%.0f%%" % (100.0 * peak / (64 << 20)), (t, rows[t][4:6], peak)
runs = text.split("<h2>Runs</h2>", 1)[1].split("</tbody>", 1)[0]
budgets = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[6] for row in runs.split("<tr>")[2:]]
assert budgets == ["-", "64.0"], budgets
PY

# The real browser.
command -v chromium >/dev/null 2>&1 || skip "chromium not installed (tests/install-deps.sh installs it)"
chrome() {
	timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$T/chrome" --enable-logging=stderr --v=0 "$@"
}
chrome --dump-dom "file://$T/report.html" >dom.html 2>chrome1.err || fail "chromium --dump-dom: $(tail chrome1.err)"
chrome --screenshot="$T/shot.png" --window-size=1200,1600 "file://$T/report.html" \
	>/dev/null 2>chrome2.err || fail "chromium --screenshot: $(tail chrome2.err)"
if grep -h "CONSOLE" chrome1.err chrome2.err; then
	fail "console messages in the browser"
fi
python3 - dom.html shot.png <<'PY' || fail "browser output"
import re, struct, sys, zlib
dom = open(sys.argv[1], encoding="utf-8").read()
assert dom.count("<svg") == 11, dom.count("<svg")
d = re.findall(r'<path class="line[^"]*" stroke="[^"]+" d="([^"]*)"', dom)
assert d and all(len(x) > 10 for x in d), d
assert 'id="tickers"' in dom and dom.count("<tr") >= 4
# The screenshot: a PNG with drawn (non-white) pixels.
png = open(sys.argv[2], "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w, h = 8, b"", 0, 0
while pos < len(png):
    n, kind = struct.unpack(">I4s", png[pos:pos + 8])
    body = png[pos + 8:pos + 8 + n]
    if kind == b"IHDR": w, h = struct.unpack(">II", body[:8])
    if kind == b"IDAT": idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
assert w == 1200 and h == 1600, (w, h)
dark = sum(1 for b in raw[::97] if b < 200)
assert dark > 200, "screenshot looks blank (%d dark samples)" % dark
PY
# The sort script, through the DevTools protocol: a click on "return" sorts
# the rows by return (no result first), a second click reverses them; the
# page logs no error on the way.
/usr/bin/python3 "$TV_SOURCE_ROOT/tests/cdp_eval.py" "file://$T/report.html" "(function(){
  var th = [...document.querySelectorAll('#tickers th')].find(h => h.textContent == 'return');
  var order = () => [...document.querySelectorAll('#tickers tbody tr')].map(r => r.cells[0].textContent);
  th.click(); var up = order(); th.click(); return [up, order()];
})()" >sorted.json 2>cdp.err || fail "sorting in the browser: $(cat cdp.err)"
want=$(python3 - $A <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
up = ["IBM"] + [t for (t,) in db.execute("select ticker from results r join jobs j on j.id=r.job_id"
                                        " order by total_return")]
print(json.dumps([up, up[::-1]]))
PY
)
expect_eq "sorted by return" "$(cat sorted.json)" "$want"

# Downsampling averages the recorded values only: 64 losses of 1.0, every
# third one NULL (none recorded), drawn as 16 points - the mean of each
# bucket's recorded values is 1.0 whatever its NULLs, so the line is flat.
FAKE_EPISODES=64 "$TV_SUPERVISOR" run a.ini --set run.tickers=GOOG --set run.out_dir=nul --db nul.db \
	--worker "$TV_BUILD_ROOT/tests/sup_fake_worker" >nul.out 2>&1 || fail "run for the NULL losses: $(tail -3 nul.out)"
q nul.db "update loss_samples set loss = 1.0, reward = 2.0; update loss_samples set loss = NULL where rowid % 3 = 0"
expect_eq "NULL losses" "$(q nul.db "select count(*) - count(loss) from loss_samples")" 21
"$TV_SUPERVISOR" report nul.db -o nul.html --max-points 16 >nulrep.out 2>&1 || fail "report: $(cat nulrep.out)"
python3 - nul.html <<'PY' || fail "the downsampled loss line"
import re, sys
plots = {}
for svg in open(sys.argv[1]).read().split("<svg")[1:]:
    title = re.search(r"<title>(.*?)</title>", svg).group(1)
    plots[title] = re.findall(r'<path class=line stroke="#[0-9a-f]+" d="([^"]+)"', svg)
for title in ("loss per episode", "episode reward"):
    assert len(plots.get(title, [])) == 1, (title, plots)
    d = plots[title][0]
    ys = {float(y) for y in re.findall(r"[ML][-\d.]+ ([-\d.]+)", d)}
    assert len(re.findall(r"[ML]", d)) == 16 and len(ys) == 1, (title, d)
PY
echo "ok"
