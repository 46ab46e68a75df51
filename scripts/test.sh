#!/usr/bin/env bash
# Every test: set-up (idempotent), then the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source <(bash scripts/bootstrap.sh --env)
cargo test --workspace --locked --no-fail-fast 2>&1
