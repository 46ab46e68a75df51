"""TRL's reward_funcs call shape: keyword arguments, strings or chat messages,
the reference column by its data set name, code fences, extra arguments ignored."""

from __future__ import annotations

import pytest

import cadrl
import cadrl.rewards as R
from cadrl import _native
from cadrl._text import program, strip_fences


def _trl_kwargs(completions, column, refs):
    # what GRPOTrainer._calculate_rewards passes (TRL 1.x), minus the trainer objects
    return dict(prompts=["make it"] * len(completions), completions=completions, completion_ids=[[1, 2]] * len(completions), **{column: refs}, trainer_state=None)


@pytest.mark.parametrize("column", ["reference", "ground_truth", "cadquery", "code", "solution"])
def test_reference_column_by_name(cases, column):
    c = cases[0]
    comps = [c["candidate"], c["code"], "solid = 1"]
    got = R.iou(**_trl_kwargs(comps, column, [c["code"]] * 3))
    assert got == R.iou(comps, [c["code"]] * 3)
    assert got[1] == 1.0 and 0.0 < got[0] < 1.0 and got[2] == 0.0


def test_reference_column_named_explicitly_and_missing(cases):
    c = cases[3]
    got = R.iou([c["candidate"]], gt_program=[c["code"]], reference_column="gt_program")
    assert got == R.iou([c["candidate"]], [c["code"]])
    with pytest.raises(ValueError, match="no reference program"):
        R.iou([c["candidate"]], prompts=["x"])
    with pytest.raises(ValueError, match="'nope' is not among"):
        R.iou([c["candidate"]], code=[c["code"]], reference_column="nope")
    with pytest.raises(ValueError, match="2 completions but 1 references"):
        R.iou([c["candidate"]] * 2, [c["code"]])


def test_chat_messages_and_fences(cases):
    c = cases[4]
    code, want = c["candidate"], R.iou([c["candidate"]], [c["code"]])[0]
    forms = [
        f"```python\n{code}\n```",
        f"Here is the program:\n```python\n{code}```\nIt makes the part.",
        f"```\n{code}\n```",
        f"```python\n{code}",  # cut off by max_completion_length
        [{"role": "assistant", "content": f"```python\n{code}\n```"}],
        [{"role": "user", "content": "draw"}, {"role": "assistant", "content": code}],
        [{"role": "assistant", "content": [{"type": "text", "text": f"```python\n{code}\n```"}]}],
    ]
    got = R.iou(forms, code=[c["code"]] * len(forms))
    assert got == [want] * len(forms)
    assert R.iou([code], reference=f"```python\n{c['code']}\n```") == [want]
    assert strip_fences("no fence") == "no fence"
    assert program([{"role": "user", "content": 3}]) == ""
    assert program(None) == ""


def test_options(cases):
    c = cases[5]
    comps = [c["candidate"], "x = (", c["code"]]
    refs = [c["code"]] * 3
    bbox = R.iou(comps, refs, mode="bbox", invalid=-0.5)
    assert bbox[1] == -0.5 and bbox[2] == 1.0
    assert R.valid(comps, invalid=-1.0) == [1.0, -1.0, 1.0]
    # the result variable
    renamed = [p.replace("solid", "r") for p in comps]
    assert R.iou(renamed, [r.replace("solid", "r") for r in refs], var="r") == R.iou(comps, refs)
    with pytest.raises(ValueError, match="sideways"):
        R.iou(comps, refs, mode="sideways")
    with pytest.raises(ValueError, match="unknown reward"):
        R.composite(comps, refs, weights={"beauty": 1.0})


def test_make_names_and_fixes_parameters(cases):
    c = cases[6]
    f = R.make("iou", mode="bbox", invalid=-1.0)
    assert f.__name__ == "iou_bbox"
    assert f(completions=[c["candidate"], ""], code=[c["code"]] * 2) == R.iou([c["candidate"], ""], [c["code"]] * 2, mode="bbox", invalid=-1.0)
    g = R.make("composite", name="shape", weights={"iou": 1.0, "valid": 0.2})
    assert g.__name__ == "shape"
    assert g(completions=[""], cadquery=[c["code"]]) == [0.0]
    with pytest.raises(ValueError):
        R.make("iou", mode="sideways")
    with pytest.raises(ValueError):
        R.make("loss")


def test_references_run_once_and_cached(cases):
    _native.clear_cache()
    refs = [c["code"] for c in cases[:4]]
    comps = [c["candidate"] for c in cases[:4]]
    k = 8  # GRPO: every reference K times
    first = R.iou([x for x in comps for _ in range(k)], [r for r in refs for _ in range(k)])
    assert _native.cache_size() == 4
    again = R.iou([x for x in comps for _ in range(k)], [r for r in refs for _ in range(k)])
    assert again == first and _native.cache_size() == 4
    assert first[::k] == R.iou(comps, refs)


def test_log_metric_receives_penalised_fraction(cases):
    logged = {}
    R.iou(["", cases[0]["code"]], code=[cases[0]["code"]] * 2, log_metric=lambda k, v: logged.__setitem__(k, v))
    assert logged == {"cadrl/iou/penalised_frac": 0.5}


def test_kinds_and_version():
    assert set(R.kinds()) >= {"iou", "chamfer", "valid", "composite"}
    assert cadrl.__version__
