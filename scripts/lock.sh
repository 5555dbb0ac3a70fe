#!/usr/bin/env bash
# Refresh the lock files from pyproject.toml: today's newest releases inside its ranges, with hashes,
# for every platform (a collector host may be ARM). Commit the result after `bash .ci/run` passes.
#   bash scripts/lock.sh
#   requirements.lock      what a deployment installs: fleet's dependencies + PostgreSQL + setuptools
#   requirements-dev.lock  the same versions plus the test tools (what .ci/run installs)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$PYTHON" -m venv "$tools"
"$tools/bin/pip" install -q --disable-pip-version-check uv
uv=("$tools/bin/uv" pip compile --generate-hashes --universal --python-version 3.11 -q)
# setuptools builds fleet itself (pip install --no-build-isolation): pinned and hashed like the rest
echo "setuptools>=77" | "${uv[@]}" pyproject.toml - --extra postgres -o requirements.lock
echo "setuptools>=77" | "${uv[@]}" pyproject.toml - --extra postgres --extra test -c requirements.lock \
  -o requirements-dev.lock
echo "requirements.lock: $(grep -c '==' requirements.lock) packages;" \
  "requirements-dev.lock: $(grep -c '==' requirements-dev.lock) packages"
