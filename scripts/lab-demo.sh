#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine as root: install fleet (into ./.venv, with
# Debian's own python3, from the lock file) and what the lab needs, start the emulated fleet
# (Dropbear + BusyBox devices running leaking C programs), collect several samples from every device,
# rank them, render the report, and stop the lab again.
#   SAMPLES=10 INTERVAL=3 DEVICES=8 bash scripts/lab-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=${SAMPLES:-10}
INTERVAL=${INTERVAL:-3}
DEVICES=${DEVICES:-8}
STORE=${FLEET_STORE:-.lab/store}

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends dropbear-bin busybox-static gcc libc6-dev python3-venv >/dev/null
bash scripts/install.sh >/dev/null
fleet=("$PWD/.venv/bin/fleet")

"${fleet[@]}" lab stop --dir .lab >/dev/null 2>&1 || true
trap '"${fleet[@]}" lab stop --dir .lab' EXIT
"${fleet[@]}" lab start --dir .lab --devices "$DEVICES"
rm -rf "$STORE"
"${fleet[@]}" collect inventory/lab.yaml --store "$STORE" --samples "$SAMPLES" --interval "$INTERVAL"
"${fleet[@]}" rank --store "$STORE"
"${fleet[@]}" report --store "$STORE" -o reports/lab.html
echo "open reports/lab.html in a browser; the store is $STORE"
echo "(. .venv/bin/activate puts fleet on PATH: fleet rank --store $STORE --json; fleet show lab-01 --store $STORE)"
