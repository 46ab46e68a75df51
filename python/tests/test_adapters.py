"""verl's compute_score, OpenRLHF's reward_func, execute() and render()."""

from __future__ import annotations

import io
import zlib

import pytest

import cadrl
import cadrl.rewards as R
from cadrl import openrlhf, verl


def test_verl_compute_score(cases):
    c = cases[0]
    want = R.iou([c["candidate"]], [c["code"]])[0]
    assert verl.compute_score("gencad", c["candidate"], c["code"], {"index": 0}) == want
    assert verl.compute_score("gencad", f"```python\n{c['candidate']}\n```", {"ground_truth": c["code"]}) == want
    assert verl.compute_score("gencad", "rm -rf /", c["code"], invalid=-1.0) == -1.0
    sols = [x["candidate"] for x in cases[:5]] + ["oops"]
    gts = [x["code"] for x in cases[:5]] + [c["code"]]
    got = verl.compute_score_batch(["gencad"] * 6, sols, gts, [None] * 6, reward="composite", weights={"iou": 1, "valid": 0.5})
    assert got == pytest.approx(R.composite(sols, gts, weights={"iou": 1, "valid": 0.5}))
    with pytest.raises(ValueError):
        verl.compute_score("gencad", "", "", reward="beauty")


def test_openrlhf_reward_func(cases):
    torch = pytest.importorskip("torch")
    prompts = ["<|im_start|>user\ndraw<|im_end|>\n<|im_start|>assistant\n"] * 3
    resp = [cases[1]["candidate"], f"```python\n{cases[2]['code']}\n```", "no code here"]
    queries = [p + r + "<|im_end|><|endoftext|>" for p, r in zip(prompts, resp)]
    labels = [cases[1]["code"], cases[2]["code"], cases[3]["code"]]
    out = openrlhf.reward_func(queries, prompts, labels)
    want = R.iou(resp, labels)
    assert isinstance(out["rewards"], torch.Tensor)
    assert out["rewards"].tolist() == pytest.approx(want, abs=1e-6)
    assert out["extra_logs"]["cadrl_scored"].tolist() == [1.0, 1.0, 0.0]
    try:
        openrlhf.configure(reward="valid", invalid=-1.0)
        assert openrlhf.reward_func(queries, prompts, labels)["rewards"].tolist() == [1.0, 1.0, -1.0]
    finally:
        openrlhf.configure()
    assert openrlhf.response_text("PQ</s>", "P") == "Q"


def test_execute_outcome_matches_occt(cases):
    for c in cases:
        o = cadrl.execute(c["code"])
        assert o.valid and o.kind == "valid" and o.message is None and o.line is None
        assert o.volume == pytest.approx(c["occt_volume"], rel=1e-2), c["id"]  # arcs are polygons natively
        assert o.bbox == pytest.approx(tuple(c["occt_bbox"]), abs=2e-3), c["id"]
    outs = cadrl._native.execute_many([c["code"] for c in cases] + [""])
    assert [o.volume for o in outs[:-1]] == [cadrl.execute(c["code"]).volume for c in cases]
    assert outs[-1].kind == "exec_error" and "solid" in repr(outs[-1])


def _png_pixels(png: bytes) -> tuple[int, int, bytes]:
    from PIL import Image

    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG"
    return img.width, img.height, img.convert("RGB").tobytes()


def test_render_png_like_the_dataset(cases):
    from PIL import Image

    from conftest import FIXTURES

    c = cases[0]
    png = cadrl.render(f"```python\n{c['code']}\n```")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h, px = _png_pixels(png)
    assert (w, h) == (448, 448)
    ref = Image.open(FIXTURES / c["image"]).convert("RGB").tobytes()
    same = sum(a == b for a, b in zip(px[::3], ref[::3])) / (w * h)
    assert same > 0.9, f"only {same:.3f} of the pixels match the data set's render"
    small = cadrl.render(c["code"], size=64)
    assert _png_pixels(small)[:2] == (64, 64)
    assert zlib.crc32(png) == zlib.crc32(cadrl.render(c["code"])), "rendering is deterministic"
    with pytest.raises(ValueError, match="size"):
        cadrl.render(c["code"], size=10**6)
