#!/usr/bin/env bash
# Install fleet into a virtual environment made with Debian's own python3 (PEP 668 forbids pip
# outside one), from the lock file with hashes. Re-running it reuses the environment.
#
#   bash scripts/install.sh                  # ./.venv, editable, with the test tools (CI, development)
#   bash scripts/install.sh --prefix /opt/fleet --link /usr/local/bin/fleet
#                                            # a deployment: fleet + PostgreSQL driver, `fleet` on PATH
#
# FLEET_DEPS=locked (default) | newest | lowest picks the dependency versions: the lock files, the
# newest releases pyproject.toml allows, or its lower bounds (to check that they still hold).
# PYTHON=/path/to/python3 picks the interpreter (default /usr/bin/python3, never a python3 on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=.venv
LINK=
DEV=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$2; DEV=0; shift 2 ;;
    --link) LINK=$2; shift 2 ;;
    --dev) DEV=1; shift ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
PYTHON=${PYTHON:-/usr/bin/python3}
DEPS=${FLEET_DEPS:-locked}

if [ ! -x "$PREFIX/bin/python" ] || ! "$PREFIX/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    else
      echo "install.sh: $PYTHON has no venv module: apt-get install python3-venv" >&2
      exit 1
    fi
  fi
  rm -rf "$PREFIX"
  "$PYTHON" -m venv "$PREFIX"
fi

pip=("$PREFIX/bin/python" -m pip install -q --disable-pip-version-check)
if [ "$DEV" = 1 ]; then lock=requirements-dev.lock; extras='.[postgres,test]'; else lock=requirements.lock; extras='.[postgres]'; fi
case "$DEPS" in
  locked)
    "${pip[@]}" --require-hashes -r "$lock"
    ;;
  newest)
    "${pip[@]}" --upgrade "setuptools>=77" "$extras"
    ;;
  lowest)  # pip cannot resolve to lower bounds; uv can
    "${pip[@]}" uv
    VIRTUAL_ENV=$PREFIX "$PREFIX/bin/uv" pip install -q --resolution lowest-direct "setuptools>=77" "$extras"
    ;;
  *) echo "install.sh: FLEET_DEPS=$DEPS: use locked, newest or lowest" >&2; exit 2 ;;
esac
# fleet itself, with the setuptools just installed (no unpinned build environment)
if [ "$DEV" = 1 ]; then
  "${pip[@]}" --no-deps --no-build-isolation -e .
else
  "${pip[@]}" --no-deps --no-build-isolation .
  install -d "$PREFIX/share/doc/fleet"  # the systemd unit's Documentation= points here
  install -m 0644 README.md docs/*.md "$PREFIX/share/doc/fleet/"
fi

if [ -n "$LINK" ]; then
  ln -sfn "$(cd "$PREFIX" && pwd)/bin/fleet" "$LINK"
fi
"$PREFIX/bin/fleet" --version
