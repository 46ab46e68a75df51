#!/usr/bin/env bash
# Installs what cadrl needs outside the clone, once, into a versioned cache that
# fresh clones (and CI) reuse: ~/.cache/cadrl/ (override with CADRL_CACHE).
#   cq-2.8.0-py311/   CadQuery 2.8.0 (the OCCT oracle for tests and benchmarks)
# Prints the environment to use; `source <(scripts/bootstrap.sh --env)` sets it.
set -euo pipefail
cache="${CADRL_CACHE:-$HOME/.cache/cadrl}"
mkdir -p "$cache"

py_for() { # the first python of the wanted version, else python3
  for p in "python$1" "$HOME/.pyenv/versions/$1"*/bin/python "python3"; do
    if command -v "$p" >/dev/null 2>&1; then command -v "$p"; return; fi
  done
  echo "no python found" >&2; exit 1
}

cq="$cache/cq-2.8.0-py311"
# `.complete` is written last, so an interrupted install is redone from scratch.
if [ ! -f "$cq/.complete" ] || ! "$cq/bin/python" -c "import cadquery" >/dev/null 2>&1; then
  echo "[bootstrap] installing CadQuery 2.8.0 into $cq (about 1.8 GB, once)" >&2
  rm -rf "$cq"
  "$(py_for 3.11)" -m venv "$cq"
  "$cq/bin/pip" install -q --disable-pip-version-check cadquery==2.8.0 pillow numpy >&2
  "$cq/bin/python" -c "import cadquery; assert cadquery.__version__ == '2.8.0'"
  touch "$cq/.complete"
fi

if [ "${1:-}" = "--env" ]; then
  echo "export CADRL_CQ_PYTHON=$cq/bin/python"
fi
