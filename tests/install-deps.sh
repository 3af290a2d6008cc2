#!/usr/bin/env bash
# Installs what building and testing tickervisor needs on Debian 12, from
# Debian's archive only. Does nothing when everything is already there.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc libc6-dev python3 python3-msgpack python3-numpy
      libuv1-dev libmsgpack-dev libsqlite3-dev sqlite3 libopenblas-dev valgrind time
      # report (issue 10): a real browser and a real terminal.
      chromium tmux
      # deploy/ tests (issue 9): a real single-node Slurm, the Kubernetes
      # manifest's YAML, systemd-analyze for the unit's hardening.
      slurmctld slurmd slurm-client munge python3-yaml systemd
      # fuzzers (libFuzzer) and the PyTorch lockstep test (issue 8).
      clang libclang-rt-14-dev python3-torch)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
