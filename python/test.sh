#!/usr/bin/env bash
# The Python package's tests: build the abi3 wheel with maturin (offline), install it
# into a fresh venv under the cargo target dir and run python/tests with pytest.
# The venv sees the torch venv's packages (trl, transformers, torch) through a .pth
# file; the wheel itself is installed by pip like a user would.
# Env: CARGO_TARGET_DIR (default target), CADRL_BIN (a built `cadrl`, else built here),
# PYTEST_ARGS (extra pytest arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CADRL_TORCH_PYTHON:-}" ] || [ -z "${CADRL_CQ_PYTHON:-}" ]; then
  setup_env="$(bash scripts/bootstrap.sh --env)" || exit 1; eval "$setup_env"
fi
target="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
export CARGO_TARGET_DIR="$target"
py="$CADRL_TORCH_PYTHON"

echo "[python] building the wheel" >&2
cargo fetch --locked >&2  # no-op when the crates are cached; the build below is offline
rm -rf "$target/pywheel"
maturin build --quiet --locked --offline --profile pywheel -m python/Cargo.toml -i "$py" -o "$target/pywheel" >&2
wheel="$(ls "$target"/pywheel/cadrl-*-abi3-*.whl)"

venv="$target/pyvenv"
rm -rf "$venv"
"$py" -m venv "$venv"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/cadrl-torch-venv.pth"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-index --no-deps "$wheel" >&2

if [ -z "${CADRL_BIN:-}" ]; then
  echo "[python] building the cadrl CLI (the scores to agree with)" >&2
  cargo build --locked --offline --bin cadrl >&2
  export CADRL_BIN="$target/debug/cadrl"
fi
export CADRL_WHEEL="$wheel"
# From the repository root: python/ itself holds the uninstalled `cadrl` sources.
# shellcheck disable=SC2086
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests ${PYTEST_ARGS:-}
