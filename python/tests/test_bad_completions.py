"""Bad completions score as invalid: no exception, and nothing is executed.

The native executor parses and interprets a CadQuery subset in Rust; Python never
runs the text. Each hostile program would leave a marker file (or hang) if it ran.
"""

from __future__ import annotations

import threading
import time

import pytest

import cadrl
import cadrl.rewards as R
from cadrl import _native


def hostile(marker: str) -> list[str]:
    m = repr(marker)
    box = 'import cadquery as cq\nsolid = cq.Workplane("XY").box(1, 1, 1)\n'
    return [
        f"import os\nos.system('touch ' + {m})\n" + box,
        f"__import__('os').system('touch ' + {m})",
        box + f"open({m}, 'w').write('ran')\n",
        f"import subprocess\nsubprocess.run(['touch', {m}])\n" + box,
        f"exec(\"open({m}, 'w').write('ran')\")\n" + box,
        f"eval(compile(\"open({m}, 'w')\", 'x', 'exec'))",
        f"import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 1, 1)\nsolid.__class__.__init__.__globals__['__builtins__']['open']({m}, 'w')",
        "import time\ntime.sleep(1000)\n" + box,
        "while True:\n    pass\n",
        "def f():\n    return f()\nf()\n",
        "import cadquery as cq\nsolid = cq.Workplane('XY')" + ".box(1, 1, 1)" * 2000,
        "(" * 5000 + ")" * 5000,
        "x = " + "[" * 100000,
    ]


NOT_CODE = ["", " ", "\n\n", "I cannot draw that.", "```python\n```", "solid = 1", "💥" * 100, "\x00\x01", "```"]


def test_hostile_programs_score_invalid_and_do_not_run(cases, tmp_path):
    marker = tmp_path / "pwned"
    progs = hostile(str(marker))
    n = len(progs)
    ref = cases[0]["code"]
    assert R.iou(progs, [ref] * n, invalid=-1.0) == [-1.0] * n
    assert R.chamfer(progs, code=[ref] * n, invalid=-1.0) == [-1.0] * n
    assert R.valid(progs) == [0.0] * n
    assert R.composite(progs, ref, invalid=-1.0) == pytest.approx([-1.1] * n)
    values, reasons = R.explain("iou", progs, ref)
    assert values == [0.0] * n
    assert all(r and r.split(":")[0] in ("unsupported", "syntax_error", "exec_error") for r in reasons), reasons
    for p in progs:
        o = cadrl.execute(p)
        assert not o.valid and o.message, (p[:60], o)
    assert not marker.exists(), "a hostile program was executed"


def test_not_code_scores_invalid(cases):
    ref = cases[1]["code"]
    for fn in (R.iou, R.chamfer, R.valid, R.composite):
        assert fn(NOT_CODE, [ref] * len(NOT_CODE), invalid=-2.0) == pytest.approx([-2.0 if fn is not R.composite else -2.2] * len(NOT_CODE))
    values, reasons = R.explain("iou", NOT_CODE, ref)
    assert values == [0.0] * len(NOT_CODE) and all(reasons)
    weird = [None, 3, [], [{"role": "assistant"}], {"content": None}]
    assert R.iou(weird, code=[ref] * len(weird)) == [0.0] * len(weird)


def test_bad_reference_penalises_without_raising(cases):
    values, reasons = R.explain("iou", [cases[0]["code"]] * 3, ["", "import os", None])
    assert values == [0.0] * 3
    assert all(r == "no reference solid" for r in reasons)


def test_render_and_execute_report_bad_programs():
    o = cadrl.execute("solid = (")
    assert o.kind == "syntax_error" and o.line == 1 and not o.valid and o.volume is None and o.bbox is None
    assert "syntax_error" in o.message
    o = cadrl.execute("import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 1, 1).fillet(5)")
    assert o.kind in ("exec_error", "unsupported") and o.message
    with pytest.raises(ValueError, match="gives no solid"):
        cadrl.render("nothing here")


def test_scoring_releases_the_gil(cases):
    """Python threads keep running while a batch is scored in Rust."""
    comps = [c["candidate"] for c in cases] * 12
    refs = [c["code"] for c in cases] * 12
    _native.clear_cache()
    span: list[float] = []
    ticks: list[float] = []

    def work():
        span.append(time.perf_counter())
        _native.score("chamfer", '{"invalid": 0.0}', comps, refs, "solid")
        span.append(time.perf_counter())

    t = threading.Thread(target=work)
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    t0, t1 = span
    assert t1 - t0 > 0.1, f"the batch took {t1 - t0:.3f} s, too short to tell"
    # Holding the GIL, the worker would stop this thread for the whole call (after at
    # most one switch interval, 5 ms); margins of 25 ms leave no tick in the middle.
    inside = [x for x in ticks if t0 + 0.025 < x < t1 - 0.025]
    assert len(inside) >= 3, f"{len(inside)} ticks of this thread during a {t1 - t0:.2f} s native call"
