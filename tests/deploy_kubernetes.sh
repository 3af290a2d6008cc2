#!/bin/sh
# deploy/kubernetes/tickervisor.yaml (issue 9), without a cluster: the YAML
# parses; the Job is Indexed with completions = the --shards argument,
# restartPolicy Never, backoffLimitPerIndex, a podFailurePolicy that fails
# the index on the supervisor's permanent exit codes (the ones run.h and
# main.c define) and ignores disruptions; the memory limit covers
# run.parallel x budget.rss of the ConfigMap's config; GPUs through
# nvidia.com/gpu; the PVC is mounted at out_dir's volume. Then the real
# binary runs the container's command line on the ConfigMap's config as
# pod index 0 would (JOB_COMPLETION_INDEX=0): it must accept both.
. "$TV_SOURCE_ROOT/tests/lib.sh"
python3 -c "import yaml" 2>/dev/null || skip "python3-yaml not installed"
cd "$T"
M="$TV_SOURCE_ROOT/deploy/kubernetes/tickervisor.yaml"

python3 - "$M" "$TV_SOURCE_ROOT" >checks.out 2>&1 <<'PY' || fail "manifest: $(cat checks.out)"
import configparser, re, sys, yaml

docs = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
assert set(docs) == {"ConfigMap", "PersistentVolumeClaim", "Job"}, sorted(docs)
job, cm, pvc = docs["Job"], docs["ConfigMap"], docs["PersistentVolumeClaim"]
assert job["apiVersion"] == "batch/v1", job["apiVersion"]
spec = job["spec"]
assert spec["completionMode"] == "Indexed", spec.get("completionMode")
assert 1 <= spec["parallelism"] <= spec["completions"], (spec["parallelism"], spec["completions"])
assert isinstance(spec["backoffLimitPerIndex"], int) and spec["backoffLimitPerIndex"] >= 1
pod = spec["template"]["spec"]
assert pod["restartPolicy"] == "Never", pod["restartPolicy"]
(c,) = pod["containers"]
args = c["args"]
assert args[:2] == ["run", "/etc/tickervisor/run.ini"], args
assert "--shards" in args and args[args.index("--shards") + 1] == str(spec["completions"]), \
    ("--shards must equal completions", args, spec["completions"])

# The supervisor's exit codes, from the source: permanent ones fail the index.
run_h = open(sys.argv[2] + "/supervisor/run.h").read()
codes = {m.group(1): int(m.group(2)) for m in re.finditer(r"RUN_EXIT_(\w+) = (\d+)", run_h)}
assert codes["FAILED"] == 1 and codes["USAGE"] == 2 and codes["STORE"] == 3, codes
main_c = open(sys.argv[2] + "/supervisor/main.c").read()
assert "return 64;" in main_c
rules = spec["podFailurePolicy"]["rules"]
fail = [r for r in rules if r["action"] == "FailIndex"]
assert len(fail) == 1, rules
ec = fail[0]["onExitCodes"]
assert ec["operator"] == "In" and ec["containerName"] == c["name"], ec
assert sorted(ec["values"]) == sorted([codes["FAILED"], codes["USAGE"], 64]), ec["values"]
assert codes["STORE"] not in ec["values"] and 137 not in ec["values"], "transient codes must be retried"
ign = [r for r in rules if r["action"] == "Ignore"]
assert ign and ign[0]["onPodConditions"] == [{"type": "DisruptionTarget"}], ign
# SIGTERM gives the workers time to checkpoint.
assert pod["terminationGracePeriodSeconds"] >= 60

# Resources against the config.
ini = configparser.ConfigParser()
ini.read_string(cm["data"]["run.ini"])
units = {"": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
def size(s):
    m = re.fullmatch(r"([0-9.]+)\s*([A-Za-z]*)", str(s).strip())
    assert m and m.group(2) in units, s
    return float(m.group(1)) * units[m.group(2)]
parallel = int(ini["run"]["parallel"])
rss = size(ini["budget"]["rss"])
res = c["resources"]
lim, req = res["limits"], res["requests"]
assert size(lim["memory"]) >= parallel * rss + 256 * 2**20, (lim["memory"], parallel, rss)
assert req["memory"] == lim["memory"], "memory request != limit: the kernel would OOM-kill below the budget"
if ini["run"].get("gpus", "none").strip() != "none":
    assert int(lim["nvidia.com/gpu"]) >= 1 and req.get("nvidia.com/gpu") == lim["nvidia.com/gpu"], res
# The shared volume holds out_dir and data_dir.
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
data = [n for n, v in vols.items() if v.get("persistentVolumeClaim", {}).get("claimName") == pvc["metadata"]["name"]]
assert len(data) == 1, vols
root = mounts[data[0]].rstrip("/") + "/"
assert ini["run"]["out_dir"].startswith(root), (ini["run"]["out_dir"], root)
assert "ReadWriteMany" in pvc["spec"]["accessModes"], pvc["spec"]["accessModes"]
cfg = [n for n, v in vols.items() if v.get("configMap", {}).get("name") == cm["metadata"]["name"]]
assert len(cfg) == 1 and mounts[cfg[0]] == "/etc/tickervisor", (cfg, mounts)
sc = pod["securityContext"]
assert sc["runAsNonRoot"] and sc["runAsUser"] != 0 and sc["fsGroup"] == sc["runAsGroup"], sc
open("run.ini", "w").write(cm["data"]["run.ini"])
open("args", "w").write("\n".join(args[2:]))
PY

# The container's command line on the ConfigMap's config, as index 0 of
# one ticker that hashes to shard 1 of 4: shard 0 has nothing to do.
mkdir data
ln -s "$DATA/GOOG.csv" data/GOOG.csv
# shellcheck disable=SC2046
JOB_COMPLETION_INDEX=0 "$TV_SUPERVISOR" run run.ini $(cat args) --set run.data_dir="$T/data" \
	--set run.out_dir="$T/out" --set run.tickers=GOOG >pod.out 2>&1 ||
	fail "the pod's command line: $(cat pod.out)"
grep -q "shard 0/4: 0 of the run's 1 tickers" pod.out || fail "pod index 0: $(cat pod.out)"
# An index beyond completions is refused.
set +e
JOB_COMPLETION_INDEX=4 "$TV_SUPERVISOR" run run.ini $(cat args) --set run.data_dir="$T/data" \
	--set run.tickers=GOOG >pod4.out 2>&1
rc=$?
set -e
expect_eq "exit status of index 4 of 4" "$rc" 2
grep -q "JOB_COMPLETION_INDEX: shard index 4 is not below the count 4" pod4.out || fail "index 4: $(cat pod4.out)"
echo "ok"
