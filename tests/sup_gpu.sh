#!/bin/sh
# On a machine with NVIDIA GPUs (skipped elsewhere): gpus = auto finds them
# (/proc/driver/nvidia/gpus), places workers_per_gpu = 2 workers at once on
# a device (CUDA_VISIBLE_DEVICES), the workers train with CUDA; and a
# budget.vram below what a worker reports (heartbeat bytes_device) is
# enforced like budget.rss: SIGKILL, halve, and at min_batch_size fail with
# a reason naming budget.vram.
. "$TV_SOURCE_ROOT/tests/lib.sh"
n_gpus=$(ls /proc/driver/nvidia/gpus 2>/dev/null | wc -l)
[ "$n_gpus" -ge 1 ] || skip "no NVIDIA GPU"
cd "$T"
write_config run.ini
DB=out/tickervisor.db
"$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL,MSFT,IBM --set run.gpus=auto \
	--set run.workers_per_gpu=2 --set run.parallel=1 >run.out 2>&1 || fail "gpu run failed"
expect_eq "done" "$(q $DB "select count(*) from jobs where state='done'")" 4
expect_eq "attempts not on a GPU" "$(q $DB "select count(*) from attempts where gpu < 0")" 0
grep -q "hello cuda/" run.out || fail "no worker trained with CUDA"
# Two attempts overlapped on one device (workers_per_gpu = 2, parallel 1
# does not apply in GPU mode).
overlap=$(q $DB "select count(*) from attempts a, attempts b where a.id < b.id and a.gpu = b.gpu
	and b.started_at < a.ended_at and a.started_at < b.ended_at")
[ "$overlap" -ge 1 ] || fail "no two workers ran at once on a device"
[ "$(q $DB "select min(peak_vram) from attempts")" -gt 0 ] || fail "no device memory reported"

set +e
"$TV_SUPERVISOR" run run.ini --db vram.db --set run.out_dir=outv --set run.tickers=MSFT \
	--set run.gpus=auto --set run.heartbeat=0.05 --set budget.vram=64KiB >vram.out 2>&1
rc=$?
set -e
expect_eq "vram: exit status" "$rc" 1
expect_eq "vram: attempts" "$(q vram.db "select group_concat(batch_size||':'||exit_kind, ' ') from attempts order by id")" \
	"32:over-budget 16:over-budget 8:over-budget"
reason=$(q vram.db "select last_reason from jobs")
case "$reason" in
*"budget.vram"*peak*"batch_size 8"*"min_batch_size 8"*) ;;
*) fail "vram reason: '$reason'" ;;
esac
echo "ok"
