#!/usr/bin/env bash
# run.sh HARNESS CORPUS/README RUNS [MAX_LEN]: a bounded libFuzzer run of HARNESS on
# a copy of the seed corpus (the folder of README), fixed seed, memory
# limits; fails on any crash, leak, timeout or sanitizer report.
set -eu
exe=$1 corpus=$(dirname "$2") runs=$3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir "$T/new"
cp "$corpus"/* "$T/new/"
rm -f "$T/new/README"
"$exe" -runs="$runs" -seed=1 -max_len="${4:-65536}" -timeout=10 -rss_limit_mb=2048 \
	-malloc_limit_mb=512 -artifact_prefix="$T/" "$T/new"
