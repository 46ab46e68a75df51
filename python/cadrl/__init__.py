"""cadrl: native CadQuery execution, rendering and geometric rewards from Python.

The work is done by cadrl's Rust crates (``cadrl._native``): programs are parsed and
interpreted in Rust, never executed by Python, in parallel and without the GIL.

- :mod:`cadrl.rewards`: ``iou``, ``chamfer``, ``valid``, ``composite``; TRL
  ``reward_funcs`` call shape.
- :mod:`cadrl.verl`: ``compute_score`` for verl.
- :mod:`cadrl.openrlhf`: ``reward_func`` for OpenRLHF (``--remote_rm_url``).
- :func:`execute` runs one program to an :class:`Outcome`; :func:`render` draws it
  as PNG bytes in the GenCAD-Code style (``IPython.display.Image(cadrl.render(code))``).
"""

from __future__ import annotations

from . import _native
from ._native import Outcome, __version__

__all__ = ["Outcome", "execute", "render", "rewards", "verl", "openrlhf", "__version__"]


def execute(code: str, var: str = "solid") -> Outcome:
    """Run ``code`` with the native executor; ``var`` names the result variable.

    Returns an :class:`Outcome` with ``kind`` (``valid``, ``syntax_error``,
    ``exec_error``, ``unsupported``), ``message`` (why not valid), ``line``,
    ``volume`` and ``bbox`` (``(xmin, ymin, zmin, xmax, ymax, zmax)``) of the solid.
    Code fences and chat messages are accepted as in the rewards.
    """
    from ._text import program

    return _native.execute(program(code), var)


def render(code: str, var: str = "solid", size: int = 448) -> bytes:
    """PNG bytes of the program's solid in the GenCAD-Code style (``size`` x ``size``).

    Raises ``ValueError`` with the reason when the program gives no solid.
    """
    from ._text import program

    return _native.render(program(code), var, size)


from . import openrlhf, rewards, verl  # noqa: E402
