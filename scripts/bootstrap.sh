#!/usr/bin/env bash
# Installs what cadrl needs outside the clone, once, into a versioned cache that fresh
# clones (and CI) reuse: ~/.cache/cadrl/ (override with CADRL_CACHE).
#   cq-2.8.0/      CadQuery 2.8.0 (the OCCT oracle for tests and benchmarks), ~1.8 GB
#   torch-2.11.0/  torch 2.11.0 (libtorch for the tch backend; ~5 GB with its CUDA
#                  libraries, runs on CPU) + transformers/PEFT (parity tests) + test extras
#
#   bash scripts/bootstrap.sh                 install what is missing
#   bash scripts/bootstrap.sh --env           same, then print `export` lines for eval:
#                                               env="$(bash scripts/bootstrap.sh --env)" || exit 1
#                                               eval "$env"
#   bash scripts/bootstrap.sh --find-python   print the interpreter set-up would use, or fail
#
# The interpreter: $CADRL_PYTHON if set (and only it), else the first of python3.12,
# python3.11, python3.13 (each by name, then pyenv's versions/3.X*), python3, python that
# really runs, is CPython 3.11-3.13 (torch 2.11.0 has wheels for 3.10-3.14, CadQuery 2.8.0
# needs >= 3.11 and cadquery-ocp 7.9 has wheels up to 3.13) and has venv + ensurepip.
# Each candidate is run, not looked up: a pyenv shim for a version that is not active
# resolves by name but fails when run.
#
# Any failure exits non-zero with one message saying what is missing and what to do.
# A venv counts as installed only once its `.complete` marker (written last, holding the
# package list) matches: an interrupted install (Ctrl-C, full disk, lost network) is
# removed and redone on the next run. Installs hold a lock on the cache ($cache/.lock),
# so two set-ups at once (CI and a user) wait for each other instead of mixing files.
set -euo pipefail

say() { echo "[set-up] $*" >&2; }
die() {
  printf '\n[set-up] FAILED: %s\n\n' "$*" >&2
  exit 1
}

SUPPORTED="3.11 3.12 3.13" # CPython minors that every pinned package has wheels for
PREFERRED="3.12 3.11 3.13" # 3.12 first: the GPU machines' torch venv uses it

oneline() { printf '%s' "$1" | tr '\n' ' ' | cut -c1-240; }

# probe PYTHON: prints "X.Y<TAB>/path/to/executable" if usable, else a one-line reason; 1 then.
probe() {
  local out rc=0
  out="$(timeout 60 "$1" - 2>&1 <<'EOF'
import platform, sys
if platform.python_implementation() != "CPython":
    sys.exit("not CPython but " + platform.python_implementation())
try:
    import venv, ensurepip  # Debian's python3 lacks ensurepip without python3-venv
except ImportError as e:
    sys.exit("no %s module (on Debian: apt-get install python3-venv)" % e.name)
print("%d.%d\t%s" % (sys.version_info[0], sys.version_info[1], sys.executable))
EOF
)" || rc=$?
  if [ "$rc" -ne 0 ]; then
    case "$rc" in
      124) echo "did not answer within 60 s" ;;
      127) case "$out" in
          "" | "timeout: failed to run command"*) echo "not found" ;;
          *) echo "fails when run: $(oneline "$out")" ;;
        esac ;;
      *) echo "fails when run: $(oneline "$out")" ;;
    esac
    return 1
  fi
  local ver="${out%%$'\t'*}"
  case " $SUPPORTED " in
    *" $ver "*) echo "$out" ;;
    *) echo "is Python $ver; cadrl needs one of: $SUPPORTED"; return 1 ;;
  esac
}

candidates() {
  if [ -n "${CADRL_PYTHON:-}" ]; then
    echo "$CADRL_PYTHON"
    return
  fi
  local v p pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
  for v in $PREFERRED; do
    echo "python$v"
    for p in "$pyenv_root/versions/$v"*/bin/python"$v"; do
      [ -e "$p" ] && echo "$p"
    done
  done
  echo python3
  echo python
}

find_python() {
  local c reason tried=""
  while IFS= read -r c; do
    if reason="$(probe "$c")"; then
      printf '%s\n' "${reason#*$'\t'}"
      say "Python: $c -> ${reason#*$'\t'} (CPython ${reason%%$'\t'*})"
      return 0
    fi
    tried+="    $c: $reason"$'\n'
  done < <(candidates)
  if [ -n "${CADRL_PYTHON:-}" ]; then
    die "CADRL_PYTHON=$CADRL_PYTHON is not a usable Python:
${tried}cadrl needs CPython 3.11, 3.12 or 3.13 with the venv module. Point CADRL_PYTHON at one, or unset it to search."
  fi
  die "no usable Python found. cadrl's set-up needs CPython 3.11, 3.12 or 3.13 with the venv
module (torch 2.11.0 and CadQuery 2.8.0 have wheels for these). Tried:
${tried}Install one (e.g. \`pyenv install 3.12\`, or Debian's python3 + python3-venv), or point
CADRL_PYTHON at its executable: CADRL_PYTHON=/path/to/python3.12 bash scripts/main.sh"
}

if [ "${1:-}" = "--find-python" ]; then
  find_python
  exit 0
fi

cache="${CADRL_CACHE:-$HOME/.cache/cadrl}"
mkdir -p "$cache" || die "cannot create the cache folder $cache (set CADRL_CACHE to a writable one)"
py="" # found when something must be installed

# layer DIR NAME CHECK PACKAGE...: installs PACKAGE... into the venv DIR (created if the
# layer is "base") unless DIR/.NAME holds the same package list and CHECK runs there.
layer() {
  local dir="$1" name="$2" check="$3"
  shift 3
  local want="$*" marker="$dir/.$name"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] \
    && "$dir/bin/python" -c "$check" >/dev/null 2>&1; then
    return 0
  fi
  [ -n "$py" ] || py="$(find_python)"
  if [ "$name" = complete ]; then
    say "installing into $dir: $want (once; several minutes)"
    rm -rf "$dir"
    "$py" -m venv "$dir" || die "could not create a venv at $dir with $py"
  else
    [ -f "$dir/.complete" ] || die "internal: layer $name before the base venv of $dir"
    say "adding to $dir: $want (once)"
  fi
  rm -f "$marker"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" >&2 \
    || die "pip could not install into $dir: $want
Look at pip's message above: no network to PyPI, or a full disk (df -h $cache)?
Rerun the same command to retry; the unfinished install is removed and redone."
  "$dir/bin/python" -c "$check" >&2 \
    || die "installed into $dir, but \`python -c \"$check\"\` fails there (message above)"
  printf '%s' "$want" >"$marker"
}

exec 9>"$cache/.lock"
if ! flock -n 9; then
  say "another set-up is installing into $cache; waiting for it"
  flock 9
fi

cq="$cache/cq-2.8.0"
layer "$cq" complete "import cadquery; assert cadquery.__version__ == '2.8.0', cadquery.__version__" \
  cadquery==2.8.0 pillow numpy

tv="$cache/torch-2.11.0"
layer "$tv" complete "import torch, transformers, peft; assert torch.__version__.startswith('2.11.0'), torch.__version__" \
  torch==2.11.0 transformers==5.24.0 peft==0.21.2 safetensors==0.8.0 tokenizers==0.23.3 \
  accelerate==1.15.0 pillow numpy
# Test extras, their own marker so that changing them keeps the 5 GB install: tensorboard
# (reads our event files), pyarrow (HF-schema parquet), trl/datasets (a real GRPOTrainer
# run against the Python package), maturin/pytest (builds and tests the Python package),
# torchvision (transformers 5's default Qwen2-VL image processor resizes with it: the
# processor parity tests' reference; 0.26.0 is the release built against torch 2.11.0).
layer "$tv" extras "import tensorboard, pyarrow, trl, datasets, pytest, torchvision" \
  tensorboard==2.21.0 pyarrow==26.0.1 trl==1.16.0 datasets==5.2.0 maturin==1.16.0 \
  pytest==9.2.0 torchvision==0.26.0 transformers==5.24.0 torch==2.11.0

if [ "${1:-}" = "--env" ]; then
  echo "export CADRL_CQ_PYTHON=$cq/bin/python"
  echo "export CADRL_TORCH_PYTHON=$tv/bin/python"
  # tch builds against the venv's torch (torch-sys asks the python first on PATH)
  echo "export PATH=$tv/bin:\$PATH"
  echo "export LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1"
fi
