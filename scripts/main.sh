#!/usr/bin/env bash
# The main job on a fresh machine: set-up (idempotent), release build, then the CPU tiny
# recipe end to end: a tiny Qwen2.5-VL from scratch on synthetic GenCAD-style parts,
# SFT -> eval -> sample + score -> DPO -> eval. Results: runs/tiny-<timestamp>/ (summary.md,
# stages/*/eval.md, TensorBoard events). Extra arguments are recipe overrides.
# A failed set-up stops here, before cargo starts, with bootstrap.sh's message.
set -euo pipefail
cd "$(dirname "$0")/.."
setup_env="$(bash scripts/bootstrap.sh --env)" || exit 1
eval "$setup_env"
cargo build --release --locked
target/release/cadrl recipe run recipes/tiny.toml "$@"
