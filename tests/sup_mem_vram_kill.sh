#!/bin/sh
# budget.vram held against the device memory NVML counts per process
# (run.c poll_cb): a worker over it is killed at once and retried at half
# the batch size, like one over budget.rss. There is no GPU here: the
# driver's GPU is faked (TV_FAULT_GPUS=1, so the worker is placed on GPU 0
# and gets CUDA_VISIBLE_DEVICES=0) and NVML is the stand-in library
# (tests/fake_nvml.c), which lists the supervisor's descendants on GPU 0
# using 1 MiB per batch element (TV_FAKE_NVML_PROC_USED=1048576/batch);
# the worker trains on the CPU (run.device = cpu).
# budget.vram = 20 MiB: at batch 32 (32 MiB) the attempt is killed for
# device memory, at batch 16 (16 MiB) it fits and the job finishes. Then
# two GPUs, and a driver that cannot count a process's memory.
. "$TV_SOURCE_ROOT/tests/lib.sh"
: "${TV_FAKE_NVML_LIB:?TV_FAKE_NVML_LIB is not set (run through meson test)}"
cd "$T"
MiB=1048576
write_config run.ini "[budget]\npoll_ms = 20"
sed -i 's/^parallel = 2/parallel = 1\ngpus = auto\nworkers_per_gpu = 1\ndevice = cpu/' run.ini
unset CUDA_VISIBLE_DEVICES
DB=out/tickervisor.db
TV_NVML_LIBRARY="$TV_FAKE_NVML_LIB" TV_FAULT_GPUS=1 TV_FAKE_NVML_COUNT=1 \
	TV_FAKE_NVML_PROC_USED=$MiB/batch "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG \
	--set budget.vram=20MiB >run.out 2>&1 || fail "the run failed: $(tail -5 run.out)"

grep -q "NVML: 1 device(s); budget.vram is held against each worker's device memory" run.out ||
	fail "NVML not in use: $(grep NVML run.out)"
expect_eq "job" "$(q $DB "select state||' '||batch_size||' '||fit_batch_size from jobs")" "done 16 16"
expect_eq "attempts" \
	"$(q $DB "select group_concat(gpu||':'||batch_size||':'||exit_kind||':'||term_signal||':'||charged, ' ') from attempts order by id")" \
	"0:32:over-budget:9:0 0:16:done:0:0"
expect_eq "peak device memory per attempt (NVML's count)" \
	"$(q $DB "select group_concat(peak_vram, ' ') from attempts order by id")" "$((32 * MiB)) $((16 * MiB))"
expect_eq "attempt 1 reason" "$(q $DB "select reason from attempts where id=1")" \
	"over budget.vram 20.0 MiB: peak 32.0 MiB at batch_size 32; retrying at batch_size 16"
grep -q "device memory 32.0 MiB (NVML) over budget.vram 20.0 MiB at batch 32: SIGKILL" run.out ||
	fail "no kill line for the device memory: $(grep -i 'vram\|device memory' run.out)"
# Nothing done is lost: attempt 2 starts at attempt 1's last checkpoint
# (from scratch when it was killed before its first).
last=$(q $DB "select coalesce(max(done_episodes), 0) from checkpoints where attempt_id=1")
expect_eq "attempt 2 resumes at attempt 1's last checkpoint" \
	"$(q $DB "select start_episodes from attempts where id=2")" "$last"

# Two GPUs, one worker on each, both over budget.vram, and another user's
# process of 1 GiB on each GPU, listed first: each device's list is read
# whole (device 1's entries follow device 0's), both workers are killed
# and halved, the other process is charged to neither, and each job
# finishes.
sed -i 's/^parallel = 1/parallel = 2/' run.ini
DB2=two.db
TV_NVML_LIBRARY="$TV_FAKE_NVML_LIB" TV_FAULT_GPUS=2 TV_FAKE_NVML_COUNT=2 TV_FAKE_NVML_OTHER=$((1024 * MiB)) \
	TV_FAKE_NVML_PROC_USED=$MiB/batch "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL \
	--set budget.vram=20MiB --db $DB2 --set run.out_dir=out2 >run2.out 2>&1 ||
	fail "the two-GPU run failed: $(tail -5 run2.out)"
expect_eq "jobs on two GPUs" "$(q $DB2 "select group_concat(ticker||' '||state||' '||fit_batch_size, ', ')
	from (select * from jobs order by ticker)")" "AAPL done 16, GOOG done 16"
expect_eq "over-budget kills by GPU" "$(q $DB2 "select group_concat(gpu, ' ') from (select gpu from attempts
	where exit_kind = 'over-budget' order by gpu)")" "0 1"
expect_eq "peak device memory per attempt, without the other process" \
	"$(q $DB2 "select group_concat(gpu||':'||batch_size||':'||peak_vram, ' ') from (select * from attempts order by gpu, id)")" \
	"0:32:$((32 * MiB)) 0:16:$((16 * MiB)) 1:32:$((32 * MiB)) 1:16:$((16 * MiB))"

# A driver that cannot count a process's memory lists it with
# NVML_VALUE_NOT_AVAILABLE (all bits set): that is no reading, not 16 EiB.
# The worker is not killed for device memory and trains at batch 32.
DB3=na.db
TV_NVML_LIBRARY="$TV_FAKE_NVML_LIB" TV_FAULT_GPUS=1 TV_FAKE_NVML_COUNT=1 \
	TV_FAKE_NVML_PROC_USED=na "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG \
	--set run.parallel=1 --set budget.vram=20MiB --db $DB3 --set run.out_dir=out3 >run3.out 2>&1 ||
	fail "the run with uncounted device memory failed: $(tail -5 run3.out)"
expect_eq "attempts when NVML cannot count a process" \
	"$(q $DB3 "select group_concat(batch_size||':'||exit_kind||':'||peak_vram, ' ') from attempts order by id")" \
	"32:done:0"
echo "ok"
