#!/usr/bin/env bash
# Build the wheel, install it next to real CadQuery ($CADRL_CQ_PYTHON, python 3.11; the
# abi3 wheel installs there too) and run bench_rewards.py. Args go to the benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${CADRL_CQ_PYTHON:-}" ]; then setup_env="$(bash scripts/bootstrap.sh --env)" || exit 1; eval "$setup_env"; fi
target="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
export CARGO_TARGET_DIR="$target"
rm -rf "$target/pywheel-bench" "$target/pybench-site"
maturin build --quiet --locked --offline --profile pywheel -m python/Cargo.toml -i "$CADRL_CQ_PYTHON" -o "$target/pywheel-bench" >&2
"$CADRL_CQ_PYTHON" -m pip install -q --disable-pip-version-check --no-index --no-deps --target "$target/pybench-site" "$target"/pywheel-bench/cadrl-*.whl
PYTHONPATH="$target/pybench-site" "$CADRL_CQ_PYTHON" python/bench/bench_rewards.py "$@"
