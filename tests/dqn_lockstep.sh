#!/usr/bin/env bash
# The C DDQN against an independent PyTorch one in lockstep (issue 8): see
# test_dqn_lockstep.c and dqn_lockstep.py. Skipped (77) only where no
# python3 with torch and numpy is found.
set -u
EXE=${1:?test_dqn_lockstep}
SRC=${TV_SOURCE_ROOT:?}
PY=
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import torch, numpy' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "no python3 with torch and numpy: skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
OPENBLAS_NUM_THREADS=1 "$EXE" "$T/dump.bin" || { echo "FAIL - test_dqn_lockstep"; exit 1; }
"$PY" "$SRC/tests/dqn_lockstep.py" "$T/dump.bin"
