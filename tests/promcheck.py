#!/usr/bin/env python3
"""A strict checker of the Prometheus text exposition format (0.0.4) for
tickervisor's metrics file, standard library only.

  promcheck.py FILE [--prefix tickervisor_]   exit 0 and prints the samples
                                               as JSON, or exit 1 with the
                                               first problem (FILE:LINE: ...)

Checks: every line is a comment, blank-free sample or HELP/TYPE; each family
has exactly one HELP and one TYPE, both before its samples, and its samples
are contiguous; metric and label names are valid, every name has the prefix;
counters end in _total; units are base units (no _milliseconds, _kilobytes,
_mib ...); label values use only the escapes \\\\ \\" \\n; no label repeats in a
sample and no series repeats; values are floats (or +Inf/-Inf/NaN); the file
ends with a newline."""
import json
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
NON_BASE = re.compile(r"_(milli|micro|nano)?(kilo|mega|giga)?(ms|us|ns|millis|milliseconds|"
                      r"microseconds|nanoseconds|minutes|hours|days|kb|mb|gb|kib|mib|gib|"
                      r"kilobytes|megabytes|gigabytes|percent)(_|$)")


class Bad(Exception):
    pass


def parse_labels(s, where):
    """s is the text between { and }; returns a dict."""
    out, i = {}, 0
    while i < len(s):
        m = re.match(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", s[i:])
        if not m:
            raise Bad("%s: bad label at %r" % (where, s[i:]))
        name = m.group(1)
        i += m.end()
        val = []
        while True:
            if i >= len(s):
                raise Bad("%s: unterminated label value" % where)
            ch = s[i]
            if ch == "\\":
                if i + 1 >= len(s) or s[i + 1] not in "\\\"n":
                    raise Bad("%s: bad escape in label value" % where)
                val.append({"\\": "\\", "\"": "\"", "n": "\n"}[s[i + 1]])
                i += 2
            elif ch == "\"":
                i += 1
                break
            elif ch == "\n":
                raise Bad("%s: raw newline in label value" % where)
            else:
                val.append(ch)
                i += 1
        if name in out:
            raise Bad("%s: label %s twice" % (where, name))
        out[name] = "".join(val)
        if i < len(s):
            if s[i] != ",":
                raise Bad("%s: expected ',' between labels" % where)
            i += 1
    return out


def check(text, path, prefix):
    if not text.endswith("\n"):
        raise Bad("%s: does not end with a newline" % path)
    help_, type_, seen_samples, closed, series = {}, {}, set(), set(), set()
    current, samples = None, []
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "%s:%d" % (path, n)
        if line == "":
            raise Bad("%s: empty line" % where)
        if line.startswith("#"):
            m = re.match(r"# (HELP|TYPE) (\S+) ?(.*)\Z", line)
            if not m:
                if line.startswith("# HELP") or line.startswith("# TYPE"):
                    raise Bad("%s: malformed %s" % (where, line[2:6]))
                continue
            kind, name, rest = m.groups()
            if not NAME.match(name):
                raise Bad("%s: bad metric name %r" % (where, name))
            if name in seen_samples:
                raise Bad("%s: %s for %s after its samples" % (where, kind, name))
            table = help_ if kind == "HELP" else type_
            if name in table:
                raise Bad("%s: second %s for %s" % (where, kind, name))
            if kind == "TYPE" and rest not in TYPES:
                raise Bad("%s: unknown type %r" % (where, rest))
            if kind == "HELP" and not rest.strip():
                raise Bad("%s: empty HELP for %s" % (where, name))
            table[name] = rest
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?\Z", line)
        if not m:
            raise Bad("%s: not a sample line: %r" % (where, line))
        name, _, labels, value = m.group(1), m.group(2), m.group(3), m.group(4)
        if name not in help_ or name not in type_:
            raise Bad("%s: sample of %s before its HELP and TYPE" % (where, name))
        if name != current:
            if name in closed:
                raise Bad("%s: samples of %s are not contiguous" % (where, name))
            if current:
                closed.add(current)
            current = name
        seen_samples.add(name)
        lab = parse_labels(labels or "", where)
        for k in lab:
            if not LABEL.match(k) or k.startswith("__"):
                raise Bad("%s: bad label name %r" % (where, k))
        key = (name, tuple(sorted(lab.items())))
        if key in series:
            raise Bad("%s: series repeated: %s" % (where, line))
        series.add(key)
        if value not in ("+Inf", "-Inf", "NaN"):
            try:
                float(value)
            except ValueError:
                raise Bad("%s: bad value %r" % (where, value))
            if not re.match(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\Z", value):
                raise Bad("%s: bad value %r" % (where, value))
        samples.append({"name": name, "labels": lab, "value": float(value)})
    for name, t in type_.items():
        if not name.startswith(prefix):
            raise Bad("%s: %s lacks the prefix %s" % (path, name, prefix))
        if t == "counter" and not name.endswith("_total"):
            raise Bad("%s: counter %s does not end in _total" % (path, name))
        if t != "counter" and name.endswith("_total"):
            raise Bad("%s: %s ends in _total but is a %s" % (path, name, t))
        if NON_BASE.search(name):
            raise Bad("%s: %s is not in base units" % (path, name))
        if name not in seen_samples:
            raise Bad("%s: family %s has no samples" % (path, name))
    for name in help_:
        if name not in type_:
            raise Bad("%s: HELP without TYPE for %s" % (path, name))
    return samples


def main():
    args = sys.argv[1:]
    prefix = "tickervisor_"
    if "--prefix" in args:
        i = args.index("--prefix")
        prefix = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 64
    text = open(args[0], encoding="utf-8").read()
    try:
        samples = check(text, args[0], prefix)
    except Bad as e:
        print(e, file=sys.stderr)
        return 1
    json.dump(samples, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
