#!/bin/sh
# gpus = auto under a scheduler (issue 9): a Slurm task given GPU 2 of a
# 4-GPU node (CUDA_VISIBLE_DEVICES=2) places every worker on device 2, not
# on 0..3 (which belong to other jobs); NoDevFiles (Slurm: no GPU for
# this job) means the CPU. The driver's GPUs are faked (TV_FAULT_GPUS=4)
# and the workers train on the CPU (run.device = cpu), so this runs
# anywhere; attempts.gpu is the device each worker was given as its
# CUDA_VISIBLE_DEVICES.
. "$TV_SOURCE_ROOT/tests/lib.sh"
cd "$T"
write_config run.ini
sed -i 's/^parallel = 2/parallel = 2\ngpus = auto\nworkers_per_gpu = 2\ndevice = cpu/' run.ini

TV_FAULT_GPUS=4 CUDA_VISIBLE_DEVICES=2 "$TV_SUPERVISOR" run run.ini --set run.tickers=GOOG,AAPL \
	>gres.out 2>&1 || fail "run with CUDA_VISIBLE_DEVICES=2: $(tail gres.out)"
expect_eq "devices the workers got" "$(q out/tickervisor.db "select group_concat(distinct gpu) from attempts")" 2
grep -q "started batch 32 on gpu 2" gres.out || grep -q "on gpu 2" gres.out ||
	fail "no worker on gpu 2 in the log: $(grep started gres.out)"

TV_FAULT_GPUS=4 CUDA_VISIBLE_DEVICES=NoDevFiles "$TV_SUPERVISOR" run run.ini --db cpu.db \
	--set run.out_dir=out2 --set run.tickers=GOOG >nodev.out 2>&1 || fail "NoDevFiles: $(tail nodev.out)"
expect_eq "device with NoDevFiles" "$(q cpu.db "select group_concat(distinct gpu) from attempts")" -1

set +e
TV_FAULT_GPUS=4 CUDA_VISIBLE_DEVICES=GPU-0b1c2d3e "$TV_SUPERVISOR" run run.ini --db uuid.db \
	--set run.tickers=GOOG >uuid.out 2>&1
rc=$?
set -e
expect_eq "exit status with a UUID list" "$rc" 2
grep -q "CUDA_VISIBLE_DEVICES='GPU-0b1c2d3e'" uuid.out || fail "UUID list: $(cat uuid.out)"
echo "ok"
