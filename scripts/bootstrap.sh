#!/usr/bin/env bash
# Installs what cadrl needs outside the clone, once, into a versioned cache that
# fresh clones (and CI) reuse: ~/.cache/cadrl/ (override with CADRL_CACHE).
#   cq-2.8.0-py311/       CadQuery 2.8.0 (the OCCT oracle for tests and benchmarks)
#   torch-2.11.0-py312/   torch 2.11.0 (libtorch for the tch backend; ~4.7 GB with CUDA
#                         libraries, runs on CPU) + transformers/PEFT for parity tests
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

tv="$cache/torch-2.11.0-py312"
if [ ! -f "$tv/.complete" ] || ! "$tv/bin/python" -c "import torch, transformers, peft" >/dev/null 2>&1; then
  echo "[bootstrap] installing torch 2.11.0 + transformers into $tv (about 5 GB, once)" >&2
  rm -rf "$tv"
  "$(py_for 3.12)" -m venv "$tv"
  "$tv/bin/pip" install -q --disable-pip-version-check torch==2.11.0 transformers==5.24.0 peft==0.21.2 \
    safetensors==0.8.0 tokenizers==0.23.3 accelerate==1.15.0 pillow numpy >&2
  "$tv/bin/python" -c "import torch; assert torch.__version__.startswith('2.11.0')"
  touch "$tv/.complete"
fi

# Extras in the torch venv, versioned by their own marker so the 5 GB install is kept:
# tensorboard (reads our event files in tests), pyarrow (writes HF-schema parquet in tests),
# trl/datasets (a real GRPOTrainer run against the Python package), maturin/pytest (builds
# and tests the Python package).
extras="tensorboard==2.21.0 pyarrow==26.0.1 trl==1.16.0 datasets==5.2.0 maturin==1.16.0 pytest==9.2.0"
if [ ! -f "$tv/.extras-1" ]; then
  echo "[bootstrap] installing test extras into $tv (once)" >&2
  "$tv/bin/pip" install -q --disable-pip-version-check $extras transformers==5.24.0 torch==2.11.0 >&2
  "$tv/bin/python" -c "import tensorboard, pyarrow, trl, datasets, pytest"
  touch "$tv/.extras-1"
fi

if [ "${1:-}" = "--env" ]; then
  echo "export CADRL_CQ_PYTHON=$cq/bin/python"
  # tch builds against the venv's torch (torch-sys asks the python first on PATH)
  echo "export CADRL_TORCH_PYTHON=$tv/bin/python"
  echo "export PATH=$tv/bin:\$PATH"
  echo "export LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1"
fi
