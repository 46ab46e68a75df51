#!/usr/bin/env bash
# The device check: cadrl against transformers (+PEFT) on one GPU, written to one report.
#
#   bash scripts/gpu_check.sh [--device cuda|cuda:N|cpu] [--out DIR] [--cadrl BIN] [--no-3b]
#                             [--work DIR] [--no-recipe] [--quick] [--timeout SECONDS]
#
# On a GPU it writes a random checkpoint with Qwen2.5-VL-3B-Instruct's exact configuration
# and a small one, compares log-probs (f32, bf16) and greedy tokens with transformers, times
# a LoRA SFT step, a DPO step and sampling 16 x 512 tokens with their peak GPU memory against
# transformers(+PEFT) in the same run, and runs recipes/dpo_iou.toml end to end on the 3B
# checkpoint with synthetic data. On the CPU (`--device cpu`, what the test suite runs with
# `--quick`) the same with the small configuration only. Report: DIR/report.md and
# DIR/report.json (default DIR: gpu_check/ under the current directory); the exit status is
# non-zero if any step failed. Sized for 8 minutes on one H100 (not yet run on one).
#
# Python: $CADRL_CHECK_PYTHON, else the GPU machines' /opt/torch/.venv, else the set-up's
# torch venv; it needs torch, transformers, peft and torchvision (or transformers' Pillow
# image processor is used on both sides). The binary: --cadrl, else target/release/cadrl,
# else `cadrl` on PATH; it runs against that Python's libtorch (LD_LIBRARY_PATH is set).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="${CADRL_CHECK_PYTHON:-}"
if [ -z "$py" ]; then
  for c in /opt/torch/.venv/bin/python "${CADRL_TORCH_PYTHON:-}" "$HOME/.cache/cadrl/torch-2.11.0/bin/python"; do
    if [ -n "$c" ] && [ -x "$c" ]; then py="$c"; break; fi
  done
fi
[ -n "$py" ] || { echo "gpu_check: no Python with torch found (set CADRL_CHECK_PYTHON)" >&2; exit 2; }
args=("$@")
has() { local x; for x in "${args[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
if ! has --cadrl; then
  if [ -x "$root/target/release/cadrl" ]; then bin="$root/target/release/cadrl"
  elif command -v cadrl >/dev/null; then bin="$(command -v cadrl)"
  else echo "gpu_check: no cadrl binary (build it: cargo build --release, or pass --cadrl BIN)" >&2; exit 2; fi
  args+=(--cadrl "$bin")
fi
has --out || args+=(--out "$PWD/gpu_check")
has --device || { if nvidia-smi -L >/dev/null 2>&1; then args+=(--device cuda); else args+=(--device cpu); fi; }
exec "$py" "$root/scripts/gpu_check/run.py" "${args[@]}"
