#!/bin/sh
# deploy/Containerfile and `meson install` (issue 9). No image can be built
# here (no container registry to pull debian:12 from), so this checks what
# can be checked without one:
# - the Containerfile: Debian 12 stages, the build stage installs with
#   `meson install --destdir`, the runtime stage copies that tree, runs as
#   uid 10001 (the Kubernetes manifest's runAsUser) with tickervisor as the
#   entry point;
# - its runtime packages provide every shared library the built binaries
#   need (ldd + dpkg -S + apt-cache depends), where apt knows the packages;
# - `meson install --destdir` lays out both binaries, the GPU module, the
#   systemd unit (ExecStart = the installed binary), the Slurm script, the
#   Kubernetes manifest and the docs;
# - the installed binaries alone train a ticker (the supervisor finds the
#   worker beside itself, no TV_WORKER), as the image's entry point would.
. "$TV_SOURCE_ROOT/tests/lib.sh"
: "${TV_BUILD_ROOT:?TV_BUILD_ROOT is not set}"
CF="$TV_SOURCE_ROOT/deploy/Containerfile"
cd "$T"

# The Containerfile's instructions.
python3 - "$CF" "$TV_SOURCE_ROOT/deploy/kubernetes/tickervisor.yaml" >cf.out 2>&1 <<'PY' || fail "Containerfile: $(cat cf.out)"
import re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
lines = [l.strip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
args = dict(re.findall(r"^ARG (\w+)=(\S+)", "\n".join(lines), re.M))
stages, cur = [], None
for l in lines:
    word, _, rest = l.partition(" ")
    if word == "FROM":
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], rest.split()[0])
        cur = {"image": image, "name": rest.split()[-1] if " AS " in rest else None, "ins": []}
        stages.append(cur)
    elif cur is not None:
        cur["ins"].append((word, rest))
assert len(stages) == 2, [s["image"] for s in stages]
build, run = stages
for s in stages:
    assert re.fullmatch(r"debian:12(-slim)?", s["image"]), s["image"]
runs = " ".join(r for w, r in build["ins"] if w == "RUN")
assert "meson setup" in runs and "meson install" in runs and "--destdir /dest" in runs, runs
assert "--prefix=/usr" in runs, "the entry point below assumes prefix /usr"
ins = {w: r for w, r in run["ins"]}
assert ("COPY", "--from=%s /dest/ /" % build["name"]) in run["ins"], run["ins"]
assert ins["USER"].split(":")[0] == "10001", ins["USER"]
assert ins["ENTRYPOINT"] == '["/usr/bin/tickervisor"]', ins["ENTRYPOINT"]
assert ins["WORKDIR"] == "/data"
k8s = open(sys.argv[2]).read()
assert "runAsUser: 10001" in k8s and "fsGroup: 10001" in k8s, "the manifest's user differs from the image's"
apt = [r for w, r in run["ins"] if w == "RUN" and "apt-get install" in r]
assert len(apt) == 1, apt
pkgs = [p for p in apt[0].split("--no-install-recommends", 1)[1].split("&&")[0].split()]
open("runtime-packages", "w").write("\n".join(pkgs) + "\n")
PY

# The runtime packages against the libraries the binaries link.
bins="$TV_BUILD_ROOT/supervisor/tickervisor $TV_BUILD_ROOT/worker/tickervisor-worker"
if command -v dpkg >/dev/null 2>&1 && apt-cache show $(cat runtime-packages) >/dev/null 2>&1; then
	# The image's base has libc6, libgcc-s1 and libstdc++6 (apt needs them).
	{ cat runtime-packages; echo libc6; echo libgcc-s1; echo libstdc++6
	  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
		--no-replaces --no-enhances $(cat runtime-packages) 2>/dev/null |
		sed -n 's/^ *\(Pre\)\{0,1\}Depends: <\{0,1\}\([^ >:]*\).*/\2/p; s/^\([a-z0-9][^ :]*\)$/\1/p'
	} | sort -u >provided
	for b in $bins; do
		ldd "$b" | awk '$3 ~ /^\// { print $3 }' >libs
		while read -r lib; do
			case "$lib" in *libasan*|*libubsan*|*liblsan*) continue ;; esac  # sanitizer builds
			pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || true)
			pkg=${pkg%%:*}
			[ -n "$pkg" ] || fail "$(basename "$b") links $lib, which no Debian package provides"
			grep -qx "$pkg" provided ||
				fail "$(basename "$b") needs $lib from $pkg, not in the image's runtime packages: $(tr '\n' ' ' <runtime-packages)"
		done <libs
	done
else
	echo "note: apt-cache does not know the runtime packages here; their check is skipped"
fi

# meson install into a DESTDIR.
meson install -C "$TV_BUILD_ROOT" --destdir "$T/dest" --no-rebuild --quiet >install.out 2>&1 ||
	fail "meson install: $(tail install.out)"
prefix=$(meson introspect "$TV_BUILD_ROOT" --buildoptions |
	python3 -c 'import json,sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}["prefix"])')
D="$T/dest$prefix"
for f in bin/tickervisor bin/tickervisor-worker share/tickervisor/slurm/tickervisor.sbatch; do
	[ -x "$D/$f" ] || fail "not installed (executable): $prefix/$f: $(cd "$T/dest" && find . -type f)"
done
for f in lib/systemd/system/tickervisor@.service share/tickervisor/kubernetes/tickervisor.yaml \
	share/doc/tickervisor/README.md share/doc/tickervisor/Containerfile; do
	[ -f "$D/$f" ] || fail "not installed: $prefix/$f: $(cd "$T/dest" && find . -type f)"
done
ls "$D"/lib/*/tickervisor/libtickervisor-gpu.so >/dev/null 2>&1 || ls "$D"/lib/tickervisor/libtickervisor-gpu.so >/dev/null 2>&1 ||
	fail "the GPU module is not installed: $(cd "$T/dest" && find . -type f)"
grep -qx "ExecStart=$prefix/bin/tickervisor run /etc/tickervisor/%i.ini" "$D/lib/systemd/system/tickervisor@.service" ||
	fail "the unit's ExecStart: $(grep ExecStart "$D/lib/systemd/system/tickervisor@.service")"

# The installed binaries on their own, as the image's entry point.
"$D/bin/tickervisor" --help >help.out 2>&1 || fail "tickervisor --help (the image's CMD): $(cat help.out)"
grep -q -- "--shard I/N" help.out || fail "help: $(cat help.out)"
write_config run.ini
env -u TV_WORKER "$D/bin/tickervisor" run run.ini --set run.tickers=GOOG >run.out 2>&1 ||
	fail "the installed binaries: $(tail run.out)"
expect_eq "done with the installed binaries" "$(q out/tickervisor.db "select state from jobs")" done
[ -s out/GOOG.model ] || fail "no model"
echo "ok"
