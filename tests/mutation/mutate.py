#!/usr/bin/env python3
"""Mutation testing for tickervisor: does the suite notice a small wrong change?

Each mutant in a list file (default: tests/mutation/mutants.txt next to this
script) is one line

    ID | path/in/repo.c | text that occurs exactly once | replacement

('#' starts a comment line; '\\|' stands for a literal '|').  The driver copies
the working tree to a scratch folder once, configures one build there, and for
each mutant: replaces the text, rebuilds, runs the suite, and puts the file
back.  A mutant is
  killed     - the build succeeded and at least one test failed or timed out,
  survived   - the build succeeded and every test passed (a gap in the suite,
               or an equivalent mutant: say which in bench/RESULTS.md),
  stillborn  - it does not compile (not counted in the score),
  stale      - its text is not found exactly once (fix the list; not counted).
Score = killed / (killed + survived).

Usage: tests/mutation/mutate.py [--list FILE] [--only ID,ID] [--suite S ...]
                                [--timeout SEC] [--scratch DIR] [--keep]
Not part of CI's default run: a full list takes about an hour on 2 cores.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


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


def run(cmd, cwd, timeout):
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        return p.returncode, p.stdout.decode('utf-8', 'replace')
    except subprocess.TimeoutExpired:
        return 'timeout', ''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--list', default=os.path.join(HERE, 'mutants.txt'))
    ap.add_argument('--only', default='')
    ap.add_argument('--suite', action='append', default=[],
                    help='meson test --suite (repeatable); default: every suite but gpu')
    ap.add_argument('--timeout', type=int, default=900, help='seconds for one suite run')
    ap.add_argument('--scratch', default='')
    ap.add_argument('--keep', action='store_true', help='keep the scratch folder')
    args = ap.parse_args()

    mutants = parse_list(args.list)
    if args.only:
        want = set(args.only.split(','))
        mutants = [m for m in mutants if m[0] in want]
    scratch = args.scratch or tempfile.mkdtemp(prefix='tv-mutants-')
    src = os.path.join(scratch, 'src')
    if os.path.exists(src):
        shutil.rmtree(src)
    ignore = shutil.ignore_patterns('build*', '.git', '.devcarry', '__pycache__')
    shutil.copytree(ROOT, src, ignore=ignore, symlinks=True)
    code, out = run(['meson', 'setup', 'build'], src, 600)
    if code != 0:
        sys.exit('meson setup failed in %s:\n%s' % (src, out))
    code, out = run(['ninja', '-C', 'build'], src, 1800)
    if code != 0:
        sys.exit('the unmutated tree does not build:\n%s' % out)
    test_cmd = ['meson', 'test', '-C', 'build', '--num-processes', '2', '--no-rebuild']
    suites = args.suite or []
    if suites:
        for s in suites:
            test_cmd += ['--suite', s]
    else:
        test_cmd += ['--no-suite', 'gpu']
    code, out = run(test_cmd, src, args.timeout)
    if code != 0:
        sys.exit('the unmutated suite does not pass; fix that first:\n%s' % out[-3000:])

    results = []
    for mid, rel, old, new, lineno in mutants:
        path = os.path.join(src, rel)
        try:
            text = open(path, encoding='utf-8').read()
        except OSError as e:
            results.append((mid, rel, 'stale', str(e)))
            continue
        n = text.count(old)
        if n != 1:
            results.append((mid, rel, 'stale', 'text found %d times' % n))
            continue
        t0 = time.time()
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text.replace(old, new))
        try:
            code, out = run(['ninja', '-C', 'build'], src, 1800)
            if code != 0:
                verdict, why = 'stillborn', 'build failed'
            else:
                code, out = run(test_cmd, src, args.timeout)
                if code == 0:
                    verdict, why = 'survived', ''
                else:
                    failed = [l.split()[1] if len(l.split()) > 1 else l
                              for l in out.splitlines()
                              if (' FAIL ' in l or ' TIMEOUT ' in l) and '/' in l]
                    verdict, why = 'killed', 'timeout' if code == 'timeout' else \
                        ' '.join(failed[:4]) or 'exit %s' % code
        finally:
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text)
        results.append((mid, rel, verdict, '%s (%.0f s)' % (why, time.time() - t0)))
        print('%-10s %-28s %-9s %s' % results[-1], flush=True)

    run(['ninja', '-C', 'build'], src, 1800)
    killed = sum(1 for r in results if r[2] == 'killed')
    survived = [r for r in results if r[2] == 'survived']
    print('\n%d mutants: %d killed, %d survived, %d stillborn, %d stale' % (
        len(results), killed, len(survived),
        sum(1 for r in results if r[2] == 'stillborn'),
        sum(1 for r in results if r[2] == 'stale')))
    if killed + len(survived):
        print('score: %.1f%% killed' % (100.0 * killed / (killed + len(survived))))
    for r in survived:
        print('survived: %s %s' % (r[0], r[1]))
    for r in results:
        if r[2] == 'stale':
            print('stale: %s %s: %s' % (r[0], r[1], r[3]))
    if not args.keep and not args.scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
