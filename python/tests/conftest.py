"""Shared fixtures: the GenCAD-Code fixture programs and the `cadrl` CLI to agree with.

python/test.sh installs the wheel into a fresh venv and sets CADRL_BIN (a built
`cadrl` binary); the fixtures live in $CADRL_FIXTURES or /work/shared/fixtures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

FIXTURES = Path(os.environ.get("CADRL_FIXTURES", "/work/shared/fixtures")) / "gencad-dev"


@pytest.fixture(scope="session")
def cases() -> list[dict]:
    path = FIXTURES / "cases.jsonl"
    assert path.is_file(), f"missing fixture file {path} (set CADRL_FIXTURES)"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(rows) >= 10, f"{path}: only {len(rows)} cases"
    return rows


@pytest.fixture(scope="session")
def cadrl_bin() -> Path:
    b = os.environ.get("CADRL_BIN")
    assert b, "CADRL_BIN is not set (run python/test.sh, which builds the cadrl CLI)"
    p = Path(b)
    assert p.is_file() and os.access(p, os.X_OK), f"CADRL_BIN={b} is not an executable"
    return p
