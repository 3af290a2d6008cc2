#!/bin/sh
# budget.vram = auto (issue 12): the supervisor learns each device's total
# memory from NVML at start and gives every worker
#     (smallest device of the run - reserve) / workers per device,
# the reserve being 10% of the device, at least 256 MiB (docs/memory.md).
# There is no GPU here: the driver's GPUs are faked (TV_FAULT_GPUS) and
# NVML is a stand-in library (tests/fake_nvml.c, via TV_NVML_LIBRARY) that
# reports TV_FAKE_NVML_COUNT devices of TV_FAKE_NVML_TOTAL bytes; the
# workers train on the CPU (run.device = cpu).
# 1. Two GPUs of 80 GiB, 2 workers per GPU: (80 - 8) / 2 = 36 GiB, in the
#    database, the log and status (text and JSON).
# 2. GPUs of 80 and 40 GiB: the smaller one sets it, (40 - 4) / 2 = 18 GiB;
#    with CUDA_VISIBLE_DEVICES=0 the run has only the 80 GiB one: 36 GiB.
# 3. One ticker: one worker per device at most: 80 - 8 = 72 GiB.
# 4. A device NVML does not list (GPU 2 of NVML's 2), and no NVML at all:
#    no budget.vram, and the log says why.
# 5. A numeric budget.vram larger than a device is refused at start.
. "$TV_SOURCE_ROOT/tests/lib.sh"
: "${TV_FAKE_NVML_LIB:?TV_FAKE_NVML_LIB is not set (run through meson test)}"
cd "$T"
write_config run.ini
sed -i 's/^parallel = 2/parallel = 2\ngpus = auto\nworkers_per_gpu = 2\ndevice = cpu/' run.ini
GiB=1073741824
unset CUDA_VISIBLE_DEVICES
export TV_NVML_LIBRARY="$TV_FAKE_NVML_LIB" TV_FAULT_GPUS=2 TV_FAKE_NVML_COUNT=2

# run NAME TICKERS [ENV...]: one run on its own database; prints nothing.
run() {
	name=$1 tickers=$2
	shift 2
	env "$@" "$TV_SUPERVISOR" run run.ini --db $name.db --set run.out_dir=$name \
		--set run.tickers=$tickers --set budget.vram=auto >$name.out 2>&1 ||
		fail "run $name failed: $(tail -5 $name.out)"
}
vram() {
	q "$1.db" "select budget_vram from runs order by id desc limit 1"
}

# 1. Two 80 GiB GPUs.
run same GOOG,AAPL TV_FAKE_NVML_TOTAL=$((80 * GiB))
expect_eq "80 GiB, 2 per GPU" "$(vram same)" $(( (80 * GiB - 8 * GiB) / 2 ))
expect_eq "both done" "$(q same.db "select group_concat(state, ',') from jobs")" "done,done"
grep -q "memory: budget.vram auto: device memory 80.0 GiB (GPU 0, the smallest of the run's 2) - reserve 8.0 GiB = 36.0 GiB for 2 workers per GPU" same.out ||
	fail "the log does not say how budget.vram was chosen: $(grep memory: same.out)"
"$TV_SUPERVISOR" status same.db >same.status 2>&1 || fail "status failed"
grep -q "^memory: budget.vram auto: device memory 80.0 GiB .* = 36.0 GiB for 2 workers per GPU" same.status ||
	fail "status does not say how budget.vram was chosen: $(cat same.status)"
"$TV_SUPERVISOR" status --json same.db >same.json 2>&1 || fail "status --json failed"
python3 - same.json $(( (80 * GiB - 8 * GiB) / 2 )) <<'PY' || fail "status --json: $(cat same.json)"
import json, sys
d = json.load(open(sys.argv[1]))
assert "budget.vram auto: device memory 80.0 GiB" in d["memory"]["plan"], d["memory"]
assert str(int(sys.argv[2])) in json.dumps(d), "budget_vram %s not in the JSON" % sys.argv[2]
PY

# 2. 80 and 40 GiB: the smaller device; only GPU 0: the larger.
run mixed GOOG,AAPL TV_FAKE_NVML_TOTAL=$((80 * GiB)),$((40 * GiB))
expect_eq "80 + 40 GiB" "$(vram mixed)" $(( (40 * GiB - 4 * GiB) / 2 ))
grep -q "budget.vram auto: device memory 40.0 GiB (GPU 1, the smallest of the run's 2)" mixed.out ||
	fail "mixed: $(grep memory: mixed.out)"
run only0 GOOG,AAPL TV_FAKE_NVML_TOTAL=$((80 * GiB)),$((40 * GiB)) CUDA_VISIBLE_DEVICES=0
expect_eq "CUDA_VISIBLE_DEVICES=0: GPU 0 alone" "$(vram only0)" $(( (80 * GiB - 8 * GiB) / 2 ))
expect_eq "workers on GPU 0" "$(q only0.db "select group_concat(distinct gpu) from attempts")" 0

# 3. One ticker: never two workers on a device.
run one GOOG TV_FAKE_NVML_TOTAL=$((80 * GiB))
expect_eq "one ticker" "$(vram one)" $(( 80 * GiB - 8 * GiB ))
grep -q "= 72.0 GiB for 1 worker per GPU" one.out || fail "one: $(grep memory: one.out)"

# 4. No size known: no budget, and why.
run unlisted GOOG TV_FAULT_GPUS=4 CUDA_VISIBLE_DEVICES=2
expect_eq "GPU NVML does not list" "$(vram unlisted)" 0
grep -q "budget.vram auto: no device memory size known for GPU 2: no budget.vram (NVML lists 2 devices)" unlisted.out ||
	fail "unlisted: $(grep memory: unlisted.out)"
run nonvml GOOG TV_NVML_LIBRARY="$T/no-such-nvml.so"
expect_eq "no NVML" "$(vram nonvml)" 0
grep -q "budget.vram auto: no device memory size known for GPU 0: no budget.vram (NVML not available: .*no-such-nvml.so" nonvml.out ||
	fail "no NVML: $(grep memory: nonvml.out)"

# 5. A budget.vram no device holds would never start a worker: refused at
#    start, naming where it was set and the device.
set +e
env TV_FAKE_NVML_TOTAL=$((80 * GiB)),$((40 * GiB)) "$TV_SUPERVISOR" run run.ini --db big.db \
	--set run.out_dir=big --set run.tickers=GOOG --set budget.vram=60GiB >big.out 2>&1
rc=$?
set -e
expect_eq "budget.vram over a device: exit status" "$rc" 2
grep -q "tickervisor: --set budget.vram=[0-9]*: budget.vram 60.0 GiB is more than GPU 1's memory 40.0 GiB" big.out ||
	fail "budget.vram over a device: $(cat big.out)"
echo "ok"
