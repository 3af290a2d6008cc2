#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs the main job on
# the bundled sample data: installs what is missing, builds, then trains
# four tickers under the supervisor and shows their status.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh
[ -d build ] || meson setup build
ninja -C build
build/supervisor/tickervisor run examples/quickstart.ini
build/supervisor/tickervisor status out/quickstart/tickervisor.db
