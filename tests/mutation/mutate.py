#!/usr/bin/env python3
"""Mutation testing for tickervisor: does the suite notice a small wrong change?

Each mutant in a list file (default: tests/mutation/mutants.txt next to this
script) is one line

    ID | path/in/repo.c | text that occurs exactly once | replacement

('#' starts a comment line; '\\|' stands for a literal '|').

How it runs.  The working tree is copied to a scratch folder (SCRATCH/src,
kept between runs with --scratch so the builds there are incremental), with
two builds beside it: SCRATCH/build (the plain build the mutants are run on)
and SCRATCH/bcov (gcc --coverage, -Dcuda=disabled).  The first run over a
tree measures which source lines each test executes: every test of the plain
suite (all but 'gpu') runs once on bcov, alone in its own GCOV_PREFIX folder
(two at a time, each with its own counters), and gcov --json-format turns its
.gcda files into lines.  The map (file:line -> tests) is cached in
SCRATCH/covmap-HASH.json, HASH being the content hash of the tree without
tests/mutation/, so a later run over the same tree skips it.  Every test must
pass there, twice at most; one that cannot (deploy_container checks what only a
CUDA build installs) has no map and is run for every covered mutant.

Then for each mutant: replace the text, rebuild, run only the tests that
executed the mutated line (the compiled unit tests, then the others, fastest
first, --maxfail 1 so the first failure ends the run), and put the file back.
A mutant is
  killed      - the build succeeded and a test failed or timed out, and failed
                again when rerun alone on the mutant (flake guard: a test that
                passes on the rerun does not kill; the run goes on with the
                tests not yet passed).  The first time a test kills, it is also
                run on the unmutated plain build: if it fails there the driver
                stops with an error (a broken test kills everything);
  survived    - the build succeeded and every selected test passed (a gap in
                the suite, or an equivalent mutant: say which in
                bench/RESULTS.md);
  not covered - no test executed the mutated line on the unmutated tree.  No
                test is run: a line the suite never executes cannot be checked
                by it, so the mutant counts as SURVIVED (a gap), never as
                killed.  The score is pessimistic, never flattering;
  stillborn   - it does not compile (not counted in the score);
  stale       - its text is not found exactly once (fix the list; not counted).
A mutated line that gcov reports as not executable (a declaration, an
initializer, a macro, code compiled only with CUDA) has no tests of its own:
the whole plain suite is run for it.
Score = killed / (killed + survived + not covered).

Soundness.  A test that did not execute a line on the unmutated tree runs the
same path on the mutant up to the first difference, so skipping it cannot
miss a kill - for deterministic tests, and only as far as the coverage data
is complete.  Workers spawned by the supervisor write their .gcda when they
exit (exit() and _exit(): the coverage build wraps _exit to flush first); a
process killed by SIGKILL (a hung worker, a memory kill) writes nothing, so
the lines it ran before the kill are missing from that test's set.  A missing
line can only drop a test from a mutant's selection: the error is a survivor
that the whole suite would have killed (use --tests or --whole to check one),
never a false kill.

Usage: tests/mutation/mutate.py [--list FILE] [--only ID,ID] [--scratch DIR]
           [--tests NAME,NAME | --whole] [--jobs N] [--keep] [--results FILE]
Not part of CI's default run (see tests/mutation/README.md).  Time on a 2-core VM
shared with other builds: the coverage map about 27 minutes once per tree,
then 45-120 s a killed mutant and 2.5-12 minutes a survivor (a rebuild plus
the selected tests).
"""
import argparse
import concurrent.futures
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SKIP_DIRS = {'.git', '__pycache__', '.devcarry', 'out'}
FAST_SUITES = {'unit', 'data'}
PASS = {'OK', 'SKIP', 'EXPECTEDFAIL'}
# Linked into the coverage build (-Wl,--wrap=_exit): a process ending with
# _exit() still writes its counters.
GCOV_SHIM = r'''
void __gcov_dump(void) __attribute__((weak));
void __real__exit(int) __attribute__((noreturn));
void __wrap__exit(int code) __attribute__((noreturn));
void __wrap__exit(int code) { if (__gcov_dump) __gcov_dump(); __real__exit(code); }
'''


def parse_list(path):
    mutants = []
    with open(path, encoding='utf-8') as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip('\n')
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            parts = [p.replace('\x00', '|') for p in line.replace('\\|', '\x00').split('|')]
            if len(parts) != 4:
                sys.exit('%s:%d: expected "ID | file | text | replacement", got %d fields'
                         % (path, lineno, len(parts)))
            mid, rel, old, new = (p.strip() for p in parts)
            if not old or old == new:
                sys.exit('%s:%d: mutant %s changes nothing' % (path, lineno, mid))
            mutants.append((mid, rel, old, new, lineno))
    ids = [m[0] for m in mutants]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        sys.exit('%s: duplicate mutant ids: %s' % (path, ', '.join(sorted(dup))))
    return mutants


def run(cmd, cwd, timeout, env=None):
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, env=env)
        return p.returncode, p.stdout.decode('utf-8', 'replace')
    except subprocess.TimeoutExpired:
        return 'timeout', ''


def tree_files(top):
    for d, dirs, files in os.walk(top):
        rel = os.path.relpath(d, top)
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS
                         and not (rel == '.' and x.startswith('build')))
        for f in sorted(files):
            if f in SKIP_DIRS:   # a worktree's .git is a file
                continue
            yield os.path.normpath(os.path.join(rel, f))


def sync_tree(src, dst):
    """Makes dst a copy of src, touching only files whose content differs
    (so ninja in the scratch builds rebuilds only what changed)."""
    want = set(tree_files(src))
    for rel in want:
        a, b = os.path.join(src, rel), os.path.join(dst, rel)
        if os.path.islink(a) or not os.path.isfile(a):
            continue
        if os.path.isfile(b) and open(a, 'rb').read() == open(b, 'rb').read():
            continue
        os.makedirs(os.path.dirname(b), exist_ok=True)
        shutil.copy2(a, b)
    for rel in set(tree_files(dst)) - want:
        os.remove(os.path.join(dst, rel))


def tree_hash(top):
    h = hashlib.sha256()
    for rel in tree_files(top):
        if rel.startswith('tests/mutation/'):
            continue
        h.update(rel.encode() + b'\0')
        with open(os.path.join(top, rel), 'rb') as f:
            h.update(f.read() + b'\0')
    return h.hexdigest()[:16]


def setup_build(scratch, src, name):
    """Configures (once) and builds SCRATCH/build (plain) or SCRATCH/bcov."""
    bdir = os.path.join(scratch, name)
    opts = []
    if name == 'bcov':
        shim_c = os.path.join(scratch, 'gcovshim.c')
        shim_o = os.path.join(scratch, 'gcovshim.o')
        with open(shim_c, 'w') as f:
            f.write(GCOV_SHIM)
        code, out = run(['gcc', '-c', '-O2', shim_c, '-o', shim_o], scratch, 120)
        if code != 0:
            sys.exit('cannot build the _exit shim:\n' + out)
        # cuda off: meson has no coverage for nvlink.
        opts = ['-Dcuda=disabled', '-Db_coverage=true',
                "-Dc_link_args=['%s','-Wl,--wrap=_exit']" % shim_o]
    if not os.path.exists(os.path.join(bdir, 'build.ninja')):
        code, out = run(['meson', 'setup', bdir] + opts, src, 600)
        if code != 0:
            sys.exit('meson setup %s failed:\n%s' % (bdir, out[-3000:]))
    code, out = run(['ninja', '-C', bdir], src, 3600)
    if code != 0:
        sys.exit('the unmutated tree does not build in %s:\n%s' % (bdir, out[-3000:]))
    return bdir


def list_tests(bdir):
    code, out = run(['meson', 'introspect', '--tests', bdir], bdir, 120)
    if code != 0:
        sys.exit('meson introspect failed:\n' + out)
    tests = [t for t in json.loads(out) if 'gpu' not in t['suite'] and
             not any(s.endswith(':gpu') for s in t['suite'])]
    return {t['name']: {'suite': [s.split(':')[-1] for s in t['suite']]} for t in tests}


def meson_test(bdir, names, logbase, timeout, maxfail=0, jobs=2, env=None):
    """Runs the named tests; returns ({name: result}, output)."""
    cmd = ['meson', 'test', '-C', bdir, '--no-rebuild', '--num-processes', str(jobs),
           '--logbase', logbase]
    if maxfail:
        cmd += ['--maxfail', str(maxfail)]
    log = os.path.join(bdir, 'meson-logs', logbase + '.json')
    if os.path.exists(log):
        os.remove(log)
    code, out = run(cmd + list(names), bdir, timeout, env)
    res = {}
    if os.path.exists(log):
        for line in open(log, encoding='utf-8', errors='replace'):
            try:
                t = json.loads(line)
            except ValueError:
                continue
            res[t['name'].split(' / ', 1)[-1]] = t['result']
    if code == 'timeout':
        for n in names:
            res.setdefault(n, 'TIMEOUT')
    return res, out


def gcov_lines(gcdas, cwd, src):
    """{relpath: {line: count}} for the given .gcda (or .gcno) files."""
    lines = {}
    dec = json.JSONDecoder()
    for i in range(0, len(gcdas), 40):
        # stdout only: gcov warns on stderr (no .gcda for a .gcno, say).
        p = subprocess.run(['gcov', '--json-format', '--stdout'] + gcdas[i:i + 40], cwd=cwd,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=600)
        out, pos, docs = p.stdout.decode('utf-8', 'replace'), 0, []
        while True:
            while pos < len(out) and out[pos] != '{':
                pos += 1
            if pos >= len(out):
                break
            doc, pos = dec.raw_decode(out, pos)
            docs.append(doc)
        for doc in docs:
            for f in doc.get('files', []):
                path = os.path.normpath(os.path.join(cwd, f['file']))
                rel = os.path.relpath(path, src)
                if rel.startswith('..'):
                    continue
                d = lines.setdefault(rel, {})
                for ln in f.get('lines', []):
                    d[ln['line_number']] = d.get(ln['line_number'], 0) + ln['count']
    return lines


def coverage_one(name, bcov, src, covdir, timeout):
    """Runs one test on the coverage build with its own counters folder;
    returns (name, seconds, result, {relpath: [lines executed]})."""
    prefix = os.path.join(covdir, 'p-' + name.replace('/', '_'))
    shutil.rmtree(prefix, ignore_errors=True)
    os.makedirs(prefix)
    env = dict(os.environ, GCOV_PREFIX=prefix, GCOV_PREFIX_STRIP='0')
    t0 = time.time()
    res, out = meson_test(bcov, [name], 'cov-' + name.replace('/', '_'), timeout,
                          jobs=1, env=env)
    secs = time.time() - t0
    result = res.get(name, 'MISSING')
    gcdas = []
    for g in glob.glob(prefix + '/**/*.gcda', recursive=True):
        orig = g[len(prefix):]
        gcno = orig[:-5] + '.gcno'
        link = g[:-5] + '.gcno'
        if os.path.exists(gcno) and not os.path.exists(link):
            os.symlink(gcno, link)
        gcdas.append(g)
    hit = {}
    for rel, d in gcov_lines(gcdas, bcov, src).items():
        ls = sorted(l for l, c in d.items() if c > 0)
        if ls:
            hit[rel] = ls
    shutil.rmtree(prefix, ignore_errors=True)
    return name, secs, result, hit, out


def coverage_map(scratch, src, tests, jobs):
    bcov = os.path.join(scratch, 'bcov')
    key = tree_hash(src)
    path = os.path.join(scratch, 'covmap-%s.json' % key)
    if os.path.exists(path):
        print('coverage map: %s (cached)' % path, flush=True)
        return json.load(open(path))
    setup_build(scratch, src, 'bcov')
    print('coverage map: running %d tests on the coverage build ...' % len(tests), flush=True)
    t0 = time.time()
    for g in glob.glob(bcov + '/**/*.gcda', recursive=True):
        os.remove(g)
    # One file per test, so that an interrupted map resumes where it stopped.
    covdir = os.path.join(scratch, 'cov-' + key)
    os.makedirs(covdir, exist_ok=True)
    done = {}
    for f in glob.glob(covdir + '/t-*.json'):
        t = json.load(open(f))
        if t['name'] in tests and t['result'] in PASS:
            done[t['name']] = t
    todo = sorted(n for n in tests if n not in done)
    failed = {}
    for attempt in (1, 2):
        failed = {}
        with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
            futs = [ex.submit(coverage_one, n, bcov, src, covdir, 3600) for n in todo]
            for fu in concurrent.futures.as_completed(futs):
                name, s, result, hit, out = fu.result()
                print('  %-24s %-8s %5.0f s  %d files' % (name, result, s, len(hit)),
                      flush=True)
                if result not in PASS:
                    failed[name] = out
                    continue
                done[name] = {'name': name, 'result': result, 'seconds': s, 'hits': hit}
                with open(os.path.join(covdir, 't-%s.json' % name.replace('/', '_')), 'w') as f:
                    json.dump(done[name], f)
        if not failed:
            break
        todo = sorted(failed)
        if attempt == 1:
            print('  rerunning %s (failed once on the coverage build)' % ' '.join(todo),
                  flush=True)
    # A test that cannot pass on the coverage build (it checks what only the
    # CUDA build installs, say) has no map: it is run for every mutant, and
    # the plain build's check of each killing test still stops the driver if
    # it fails on the unmutated tree.
    for n in sorted(failed):
        print('warning: %s fails twice on the coverage build; it has no map and runs for '
              'every mutant:\n%s' % (n, failed[n][-1500:]), flush=True)
    stray = glob.glob(bcov + '/**/*.gcda', recursive=True)
    if stray:
        print('warning: %d .gcda files written outside GCOV_PREFIX (a process with a '
              'cleared environment); their lines are not attributed to a test' % len(stray))
    hits = {}
    for name, t in done.items():
        for rel, ls in t['hits'].items():
            d = hits.setdefault(rel, {})
            for l in ls:
                d.setdefault(str(l), []).append(name)
    gcnos = glob.glob(bcov + '/**/*.gcno', recursive=True)
    executable = {rel: sorted(d) for rel, d in gcov_lines(gcnos, bcov, src).items()}
    cmap = {'tree': key, 'seconds': {n: t['seconds'] for n, t in done.items()},
            'unmapped': sorted(failed), 'hits': hits, 'executable': executable,
            'minutes': round((time.time() - t0) / 60, 1)}
    with open(path + '.tmp', 'w') as f:
        json.dump(cmap, f)
    os.replace(path + '.tmp', path)
    print('coverage map: %s (%.1f min)' % (path, cmap['minutes']), flush=True)
    return cmap


def mutant_lines(text, old):
    start = text.index(old)
    first = text.count('\n', 0, start) + 1
    return list(range(first, first + old.count('\n') + 1))


def select(cmap, rel, lines, tests):
    """(tests to run, why): the tests that executed any of the lines; None
    when the lines are executable and no test ran them."""
    exe = set(cmap['executable'].get(rel, []))
    if not any(l in exe for l in lines):
        return sorted(tests), 'not executable: whole suite'
    sel = set()
    for l in lines:
        sel.update(cmap['hits'].get(rel, {}).get(str(l), []))
    sel &= set(tests)
    if not sel:
        return None, 'not covered'
    unmapped = set(cmap['unmapped']) & set(tests)
    return sorted(sel | unmapped), '%d tests' % len(sel | unmapped)


def phases(names, tests, secs):
    """The compiled unit tests first, then the others; fastest first in each."""
    key = lambda n: secs.get(n, 1e9)
    fast = sorted((n for n in names if set(tests[n]['suite']) & FAST_SUITES), key=key)
    slow = sorted((n for n in names if not set(tests[n]['suite']) & FAST_SUITES), key=key)
    return [p for p in (fast, slow) if p]


class Driver:
    def __init__(self, args, src, build, tests, secs):
        self.args, self.src, self.build, self.tests, self.secs = args, src, build, tests, secs
        self.baseline_ok = set()

    def run_selected(self, names):
        """Runs names (maxfail 1) with the flake guard. Returns (killers, flakes)."""
        passed, flakes = set(), []
        for _round in range(3):
            left = [n for n in names if n not in passed]
            if not left:
                return [], flakes
            failed = []
            for ph in phases(left, self.tests, self.secs):
                res, _ = meson_test(self.build, ph, 'mut', self.args.timeout, maxfail=1,
                                    jobs=self.args.jobs)
                passed.update(n for n, r in res.items() if r in PASS)
                failed = [n for n in ph if n in res and res[n] not in PASS]
                if failed or any(n not in res for n in ph):
                    break
            if not failed:
                if all(n in passed for n in names):
                    return [], flakes
                continue
            killers = []
            for n in failed:
                res, _ = meson_test(self.build, [n], 'mut-rerun', self.args.timeout, jobs=1)
                if res.get(n) not in PASS:
                    killers.append(n)
                else:
                    passed.add(n)
                    flakes.append(n)
            if killers:
                return killers, flakes
        return [], flakes   # still failing now and then after 3 rounds: not a kill

    def check_baseline(self, killers):
        """The unmutated tree (already rebuilt) must pass each killing test."""
        for n in killers:
            if n in self.baseline_ok:
                continue
            res, out = meson_test(self.build, [n], 'baseline', self.args.timeout, jobs=1)
            if res.get(n) not in PASS:
                sys.exit('test %s fails on the unmutated tree (plain build): fix that first'
                         '\n%s' % (n, out[-3000:]))
            self.baseline_ok.add(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--list', default=os.path.join(HERE, 'mutants.txt'))
    ap.add_argument('--only', default='', help='comma-separated mutant ids, run in this order')
    ap.add_argument('--tests', default='',
                    help='comma-separated tests to run for every mutant (no coverage map)')
    ap.add_argument('--whole', action='store_true',
                    help='run the whole plain suite for every mutant (no coverage map)')
    ap.add_argument('--timeout', type=int, default=1800, help='seconds for one meson test run')
    ap.add_argument('--jobs', type=int, default=2, help='tests run at a time')
    ap.add_argument('--scratch', default='', help='scratch folder, kept (builds, coverage map)')
    ap.add_argument('--keep', action='store_true', help='keep a temporary scratch folder')
    ap.add_argument('--results', default='', help='write the results as JSON here')
    ap.add_argument('--check', action='store_true',
                    help='only parse the list and name the stale entries (nothing is built)')
    args = ap.parse_args()

    t_start = time.time()
    mutants = parse_list(args.list)
    if args.check:
        stale = []
        for mid, rel, old, new, lineno in mutants:
            path = os.path.join(ROOT, rel)
            n = open(path, encoding='utf-8').read().count(old) if os.path.isfile(path) else 0
            if n != 1:
                stale.append('%s:%d: %s: %s: text found %d times' % (args.list, lineno, mid, rel, n))
        print('%d mutants parsed, %d stale%s' % (len(mutants), len(stale),
              ''.join('\n  ' + x for x in stale)))
        return
    if args.only:
        want = set(args.only.split(','))
        unknown = want - {m[0] for m in mutants}
        if unknown:
            sys.exit('no such mutant: %s' % ', '.join(sorted(unknown)))
        order = {mid: i for i, mid in enumerate(args.only.split(','))}
        mutants = sorted((m for m in mutants if m[0] in want), key=lambda m: order[m[0]])
    scratch = os.path.abspath(args.scratch or tempfile.mkdtemp(prefix='tv-mutants-'))
    src = os.path.join(scratch, 'src')
    build = os.path.join(scratch, 'build')
    os.makedirs(src, exist_ok=True)
    sync_tree(ROOT, src)
    setup_build(scratch, src, 'build')
    tests = list_tests(build)
    if args.tests:
        fixed = args.tests.split(',')
        unknown = set(fixed) - set(tests)
        if unknown:
            sys.exit('no such test: %s' % ', '.join(sorted(unknown)))
        cmap = None
    elif args.whole:
        fixed, cmap = sorted(tests), None
    else:
        fixed, cmap = None, coverage_map(scratch, src, tests, args.jobs)
    secs = cmap['seconds'] if cmap else {}
    drv = Driver(args, src, build, tests, secs)

    results = []
    for mid, rel, old, new, lineno in mutants:
        path = os.path.join(src, rel)
        try:
            text = open(path, encoding='utf-8').read()
        except OSError as e:
            results.append({'id': mid, 'file': rel, 'verdict': 'stale', 'why': str(e)})
            continue
        n = text.count(old)
        if n != 1:
            results.append({'id': mid, 'file': rel, 'verdict': 'stale',
                            'why': 'text found %d times' % n})
            print('%-12s %-28s %-11s %s' % (mid, rel, 'stale', results[-1]['why']), flush=True)
            continue
        t0 = time.time()
        lines = mutant_lines(text, old)
        if fixed is not None:
            names, why = fixed, '%d tests given' % len(fixed)
        else:
            names, why = select(cmap, rel, lines, tests)
        r = {'id': mid, 'file': rel, 'line': lines[0], 'selection': why}
        if names is None:
            r.update(verdict='not covered', why='no test executes %s:%d' % (rel, lines[0]))
        else:
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text.replace(old, new))
            killers = []
            try:
                code, out = run(['ninja', '-C', build], src, 3600)
                if code != 0:
                    r.update(verdict='stillborn', why='build failed')
                else:
                    killers, flakes = drv.run_selected(names)
                    r['flakes'] = flakes
                    if killers:
                        r.update(verdict='killed', why=' '.join(killers))
                    else:
                        r.update(verdict='survived', why='%d tests passed' % len(names))
            finally:
                with open(path, 'w', encoding='utf-8') as f:
                    f.write(text)
            if killers:
                code, out = run(['ninja', '-C', build], src, 3600)
                if code != 0:
                    sys.exit('the reverted tree does not build:\n' + out[-3000:])
                drv.check_baseline(killers)
        r['seconds'] = round(time.time() - t0)
        results.append(r)
        print('%-12s %-28s %-11s %s [%s] (%d s)' % (mid, '%s:%d' % (rel, lines[0]), r['verdict'],
              r['why'], why, r['seconds']), flush=True)

    run(['ninja', '-C', build], src, 3600)
    count = lambda v: sum(1 for r in results if r['verdict'] == v)
    killed, survived, uncovered = count('killed'), count('survived'), count('not covered')
    print('\n%d mutants: %d killed, %d survived, %d not covered, %d stillborn, %d stale '
          '(%.1f min)' % (len(results), killed, survived, uncovered, count('stillborn'),
                          count('stale'), (time.time() - t_start) / 60))
    if killed + survived + uncovered:
        print('score: %.1f%% killed (not covered counts as survived)'
              % (100.0 * killed / (killed + survived + uncovered)))
    for r in results:
        if r['verdict'] in ('survived', 'not covered', 'stale'):
            print('%s: %s %s:%s %s' % (r['verdict'], r['id'], r['file'], r.get('line', '?'),
                                       r['why']))
    if args.results:
        with open(args.results, 'w') as f:
            json.dump(results, f, indent=1)
    if not args.keep and not args.scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
