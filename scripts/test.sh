#!/usr/bin/env bash
# Every test: set-up (idempotent), then the whole workspace's tests, then the Python
# package's (python/test.sh); exits non-zero if either failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source <(bash scripts/bootstrap.sh --env)
# A one-off build keeps nothing for next time: no incremental caches (GBs in target/).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 || status=$?
# The Python package (wheel + pytest), run even when cargo tests failed. It compares
# with the `cadrl` CLI that cargo test has just built (python/test.sh builds it otherwise).
if [ "$status" -eq 0 ]; then export CADRL_BIN="${CARGO_TARGET_DIR:-target}/debug/cadrl"; fi
bash python/test.sh 2>&1 || status=1
exit "$status"
