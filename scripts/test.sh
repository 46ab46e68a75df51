#!/usr/bin/env bash
# Every test: set-up (idempotent), the lint gates (rustfmt, clippy with warnings as
# errors), the whole workspace's tests, then the Python package's (python/test.sh); exits
# non-zero if any failed. A failed set-up stops here, before cargo starts.
set -euo pipefail
cd "$(dirname "$0")/.."
setup_env="$(bash scripts/bootstrap.sh --env)" || exit 1
eval "$setup_env"
# A one-off build keeps nothing for next time: no incremental caches (GBs in target/).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
status=0
echo "[test] cargo fmt --check" >&2
cargo fmt --all --check || { echo "[test] FAILED: not rustfmt-clean (run cargo fmt --all)" >&2; status=1; }
echo "[test] cargo clippy -D warnings" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings \
  || { echo "[test] FAILED: clippy warnings (above)" >&2; status=1; }
cargo test --workspace --locked --no-fail-fast 2>&1 || status=$?
# The Python package (wheel + pytest), run even when cargo tests failed. It compares
# with the `cadrl` CLI that cargo test has just built (python/test.sh builds it otherwise).
if [ "$status" -eq 0 ]; then export CADRL_BIN="${CARGO_TARGET_DIR:-target}/debug/cadrl"; fi
bash python/test.sh 2>&1 || status=1
exit "$status"
