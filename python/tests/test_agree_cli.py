"""The Python rewards give the numbers `cadrl score` gives, on the GenCAD-Code fixtures.

Pairs: (candidate, reference), (reference, reference), (reference, candidate),
(program of another case, reference) and broken programs; modes in-place and bbox.
Both sides are cadrl's Rust code, so the numbers must be equal, not just close.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import cadrl
import cadrl.rewards as R


def _pairs(cases: list[dict]) -> list[tuple[str, str]]:
    pairs = []
    for i, c in enumerate(cases):
        other = cases[(i + 1) % len(cases)]["code"]
        pairs += [(c["candidate"], c["code"]), (c["code"], c["code"]), (c["code"], c["candidate"]), (other, c["code"])]
    pairs += [("", cases[0]["code"]), ("solid = 1 +", cases[0]["code"]), ("import cadquery as cq\nsolid = nope", cases[1]["code"])]
    return pairs


def _cli(cadrl_bin: Path, tmp_path: Path, pairs: list[tuple[str, str]], mode: str) -> list[dict]:
    src = tmp_path / f"pairs-{mode}.jsonl"
    out = tmp_path / f"scored-{mode}.jsonl"
    src.write_text("".join(json.dumps({"id": i, "a": a, "b": b}) + "\n" for i, (a, b) in enumerate(pairs)))
    subprocess.run([str(cadrl_bin), "score", "--pairs", str(src), "--out", str(out), "--iou-mode", mode], check=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(len(pairs)))
    return rows


@pytest.mark.parametrize("mode", ["in-place", "bbox"])
def test_iou_chamfer_valid_equal_cadrl_score(cases, cadrl_bin, tmp_path, mode):
    pairs = _pairs(cases)
    rows = _cli(cadrl_bin, tmp_path, pairs, mode)
    comps = [a for a, _ in pairs]
    refs = [b for _, b in pairs]
    iou = R.iou(comps, refs, mode=mode, invalid=-1.0)
    assert iou == [r["iou"] if r["iou"] is not None else -1.0 for r in rows]
    valid = R.valid(comps)
    assert valid == [1.0 if r["valid_a"] else 0.0 for r in rows]
    assert sum(valid) >= 3 * len(cases), "most fixture programs should run natively"
    assert valid[-3:] == [0.0, 0.0, 0.0]
    if mode == "in-place":
        ch = R.chamfer(comps, refs)
        want = [1.0 / (1.0 + 1000.0 * r["chamfer"]) if r["chamfer"] is not None else 0.0 for r in rows]
        assert ch == pytest.approx(want, rel=1e-12, abs=0)
        # execute() reports the volume the CLI reports
        for code, r in zip(comps[:8], rows[:8]):
            assert cadrl.execute(code).volume == r["volume_a"]


def test_iou_close_to_occt(cases):
    """Sanity against the fixture's real CadQuery/OCCT IoU (exact CSG volumes on both sides)."""
    got, why = R.explain("iou", [c["candidate"] for c in cases], [c["code"] for c in cases])
    scored = [(c, v) for c, v, r in zip(cases, got, why) if r is None]
    assert len(scored) >= len(cases) - 4
    for c, v in scored:
        assert v == pytest.approx(c["occt_iou"], abs=2e-3), c["id"]


def test_composite_is_weighted_sum(cases):
    comps = [c["candidate"] for c in cases] + ["not code at all"]
    refs = [c["code"] for c in cases] + [cases[0]["code"]]
    w = {"iou": 1.0, "chamfer": 0.5, "valid": 0.1}
    got = R.composite(comps, refs, weights=w, mode="bbox")
    parts = {
        "iou": R.iou(comps, refs, mode="bbox"),
        "chamfer": R.chamfer(comps, refs),
        "valid": R.valid(comps),
    }
    want = [sum(w[k] * parts[k][i] for k in w) for i in range(len(comps))]
    assert got == pytest.approx(want, rel=1e-12)
    assert got[-1] == 0.0
