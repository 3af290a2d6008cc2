#!/bin/sh
# A worker whose memory grows with the sequence length, as users' own
# workers' does (the reason for the chunk rung of budget.ladder): it holds
# SEQLEN_BYTES_PER_DAY bytes per day of rewts.chunk_length in a helper
# process of its own process group, which budget.rss counts with it, then
# becomes the real worker ($SEQLEN_REAL_WORKER) with the same arguments, so
# that what it trains and writes is the real worker's. chunk_length is the
# last `--set rewts.chunk_length=N` the supervisor passes (a rung), else
# the configuration file's `chunk_length = N` line.
set -eu
: "${SEQLEN_REAL_WORKER:?}" "${SEQLEN_BYTES_PER_DAY:?}"
len='' cfg='' out='' prev=''
for a in "$@"; do
	case "$prev" in
	--config) cfg=$a ;;
	--out) out=$a ;;
	--set) case "$a" in rewts.chunk_length=*) len=${a#rewts.chunk_length=} ;; esac ;;
	esac
	prev=$a
done
[ -n "$len" ] || len=$(sed -n 's/^chunk_length *= *//p' "$cfg" | tail -n 1)
[ -n "$len" ] || { echo "seqlen_worker: no chunk_length in $cfg" >&2; exit 2; }
# The helper says "ready" once its memory is touched; it dies with the
# worker (PR_SET_PDEATHSIG; exec keeps the same process).
fifo="$out/.seqlen.$$"
rm -f "$fifo"
mkfifo "$fifo"
python3 -c '
import ctypes, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGKILL)
hold = b"\x01" * int(sys.argv[1])
print("ready", flush=True)
while True:
    signal.pause()
' $((len * SEQLEN_BYTES_PER_DAY)) >"$fifo" &
read -r ready <"$fifo" || ready=''
rm -f "$fifo"
[ "$ready" = ready ] || { echo "seqlen_worker: the helper did not start" >&2; exit 2; }
exec "$SEQLEN_REAL_WORKER" "$@"
