"""cadrl's rewards as verl ``compute_score`` functions.

verl calls a custom reward function once per sample with ``(data_source,
solution_str, ground_truth, extra_info)``, plus the ``reward_kwargs`` of its config;
its ``batch`` reward manager calls one with the plural names and whole lists.
Point ``custom_reward_function.path`` at this file's module (or a file importing it)
and ``custom_reward_function.name`` at ``compute_score`` (per sample) or
``compute_score_batch`` (``reward_model.reward_manager=batch``, parallel, faster).

``ground_truth`` is the reference program's text (or a dict holding it under
``code``/``cadquery``/``reference``/``ground_truth``). Choose the reward with
``reward_kwargs``: ``reward`` (``iou`` | ``chamfer`` | ``valid`` | ``composite``), and its
parameters (``mode``, ``invalid``, ``weights``, ``var``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import rewards

__all__ = ["compute_score", "compute_score_batch"]

_KEYS = ("code", "cadquery", "reference", "ground_truth")


def _ground_truth(gt: Any) -> str | None:
    if isinstance(gt, str):
        return gt
    if isinstance(gt, dict):
        for k in _KEYS:
            if isinstance(gt.get(k), str):
                return gt[k]
    return None


def _reward(name: str):
    fns = {"iou": rewards.iou, "chamfer": rewards.chamfer, "valid": rewards.valid, "composite": rewards.composite}
    if name not in fns:
        raise ValueError(f"cadrl.verl: unknown reward {name!r} (known: {', '.join(fns)})")
    return fns[name]


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    *,
    reward: str = "iou",
    **params: Any,
) -> list[float]:
    """One score per solution, computed in parallel."""
    refs = [_ground_truth(g) for g in ground_truths]
    fn = _reward(reward)
    if fn is rewards.valid:
        return fn(list(solution_strs), **params)
    return fn(list(solution_strs), refs, **params)


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    *,
    reward: str = "iou",
    **params: Any,
) -> float:
    """The score of one solution."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], reward=reward, **params)[0]
