"""cadrl's geometric rewards in the call shape of TRL's ``reward_funcs``.

Every reward takes keyword arguments as ``trl.GRPOTrainer`` passes them:
``completions`` (strings, or chat messages ``[{"role": "assistant", "content": ...}]``),
the data set's other columns by name, and ``prompts``, ``completion_ids``,
``trainer_state``, ... which are ignored. The reference program comes from the
``reference`` argument, else from ``reference_column``, else from the first of the
columns named in :data:`REFERENCE_COLUMNS` that is present. Code fences are stripped
from completions and references.

Programs run in cadrl's native executor (Rust; no Python is executed, so hostile
completions are just invalid), in parallel, with the GIL released. A completion that
does not parse or run scores ``invalid`` (default ``0.0``), never raises. References
are run once per distinct text and cached for the life of the process.

    from trl import GRPOTrainer
    import cadrl.rewards
    trainer = GRPOTrainer(model=..., reward_funcs=[cadrl.rewards.iou], train_dataset=ds)

:func:`make` builds a configured, named reward (``make("iou", mode="bbox")``) for
trainers that want plain callables; :func:`score` also returns the reasons.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import _native
from ._text import program

#: Columns tried, in order, for the reference program when ``reference`` is not given.
REFERENCE_COLUMNS = ("reference", "ground_truth", "cadquery", "code", "solution", "answer", "label")

#: Default parts of :func:`composite`: IoU plus a small validity bonus.
DEFAULT_WEIGHTS: Mapping[str, float] = {"iou": 1.0, "valid": 0.1}

__all__ = [
    "REFERENCE_COLUMNS",
    "DEFAULT_WEIGHTS",
    "iou",
    "chamfer",
    "valid",
    "composite",
    "score",
    "explain",
    "make",
    "kinds",
]


def kinds() -> dict[str, str]:
    """The rewards cadrl knows, with a one-line description each."""
    return dict(_native.reward_kinds())


def score(
    kind: str,
    completions: Sequence[Any],
    references: Sequence[str | None],
    *,
    var: str = "solid",
    **params: Any,
) -> tuple[list[float], list[str | None]]:
    """Score with any reward of cadrl's registry; ``params`` as in a recipe.

    Returns ``(values, reasons)``: a reason (e.g. ``"syntax_error: line 2: ..."``)
    for every penalised completion, ``None`` for the others.
    """
    codes = [program(c) for c in completions]
    refs = [None if r is None else program(r) for r in references]
    return _native.score(kind, json.dumps(params), codes, refs, var)


def _references(n: int, reference: Any, reference_column: str | None, kwargs: Mapping[str, Any]) -> list[str | None]:
    if reference is None:
        if reference_column is not None:
            if reference_column not in kwargs:
                raise ValueError(
                    f"cadrl.rewards: reference column {reference_column!r} is not among the "
                    f"arguments ({', '.join(sorted(kwargs)) or 'none'})"
                )
            reference = kwargs[reference_column]
        else:
            found = [c for c in REFERENCE_COLUMNS if c in kwargs]
            if not found:
                raise ValueError(
                    "cadrl.rewards: no reference program: pass `reference=` or name the data set "
                    f"column with `reference_column=` (tried {', '.join(REFERENCE_COLUMNS)}; "
                    f"got {', '.join(sorted(kwargs)) or 'no other arguments'})"
                )
            reference = kwargs[found[0]]
    if isinstance(reference, str):
        return [reference] * n
    refs = list(reference)
    if len(refs) != n:
        raise ValueError(f"cadrl.rewards: {n} completions but {len(refs)} references")
    return [r if isinstance(r, str) else None for r in refs]


def _prepare(kind: str, completions: Sequence[Any], reference: Any, opts: dict[str, Any], kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], list[str | None]]:
    """The registry parameters and the per-completion references of one call."""
    n = len(completions)
    invalid = opts.get("invalid", 0.0)
    if kind == "iou":
        params: dict[str, Any] = {"mode": opts.get("mode", "in-place"), "invalid": invalid}
    elif kind in ("chamfer", "valid"):
        params = {"invalid": invalid}
    elif kind == "composite":
        params = {"parts": _parts(opts.get("weights", DEFAULT_WEIGHTS), opts.get("mode", "in-place"), invalid)}
    else:
        raise ValueError(f"cadrl.rewards: unknown reward {kind!r} (known: iou, chamfer, valid, composite)")
    needs_ref = kind in ("iou", "chamfer") or (kind == "composite" and any(p["kind"] != "valid" for p in params["parts"]))
    refs = _references(n, reference, opts.get("reference_column"), kwargs) if needs_ref else [None] * n
    return params, refs


def explain(kind: str, completions: Sequence[Any], reference: Any = None, *, var: str = "solid", **opts: Any) -> tuple[list[float], list[str | None]]:
    """Like the reward ``kind`` (same arguments), but returns ``(values, reasons)``.

    ``reasons[i]`` says why completion ``i`` was penalised (``None`` if it was not),
    e.g. ``"syntax_error: line 2: ..."`` or ``"no reference solid"``.
    """
    known = {"mode", "invalid", "weights", "reference_column"}
    params, refs = _prepare(kind, completions, reference, {k: v for k, v in opts.items() if k in known}, opts)
    return score(kind, completions, refs, var=var, **params)


def _run(kind: str, completions: Sequence[Any], reference: Any, var: str, opts: dict[str, Any], kwargs: Mapping[str, Any]) -> list[float]:
    params, refs = _prepare(kind, completions, reference, opts, kwargs)
    values, reasons = score(kind, completions, refs, var=var, **params)
    log_metric = kwargs.get("log_metric")
    if callable(log_metric) and values:  # TRL >= 1.x: extra scalars next to the reward's mean
        log_metric(f"cadrl/{kind}/penalised_frac", sum(r is not None for r in reasons) / len(values))
    return values


def iou(
    completions: Sequence[Any],
    reference: Any = None,
    *,
    mode: str = "in-place",
    var: str = "solid",
    invalid: float = 0.0,
    reference_column: str | None = None,
    **kwargs: Any,
) -> list[float]:
    """Volumetric IoU with the reference solid, exact, in [0, 1].

    ``mode``: ``in-place`` (as the programs place them), ``bbox`` (both scaled into
    the same box first) or ``inertia`` (aligned by principal axes).
    """
    opts = {"mode": mode, "invalid": invalid, "reference_column": reference_column}
    return _run("iou", completions, reference, var, opts, kwargs)


def chamfer(
    completions: Sequence[Any],
    reference: Any = None,
    *,
    var: str = "solid",
    invalid: float = 0.0,
    reference_column: str | None = None,
    **kwargs: Any,
) -> list[float]:
    """``1 / (1 + 1000 * cd)`` with ``cd`` the Chamfer distance to the reference surface."""
    return _run("chamfer", completions, reference, var, {"invalid": invalid, "reference_column": reference_column}, kwargs)


def valid(
    completions: Sequence[Any],
    reference: Any = None,
    *,
    var: str = "solid",
    invalid: float = 0.0,
    **kwargs: Any,
) -> list[float]:
    """1.0 when the program runs to a non-empty solid, else ``invalid``; needs no reference."""
    return _run("valid", completions, None, var, {"invalid": invalid}, kwargs)


def _parts(weights: Any, mode: str, invalid: float) -> list[dict[str, Any]]:
    items = weights.items() if isinstance(weights, Mapping) else weights
    parts = []
    for kind, w in items:
        spec: dict[str, Any] = {"kind": kind, "invalid": invalid}
        if kind == "iou":
            spec["mode"] = mode
        if isinstance(w, Mapping):  # a full spec: {"weight": 1.0, "mode": "bbox", ...}
            spec.update(w)
        else:
            spec["weight"] = float(w)
        parts.append(spec)
    if not parts:
        raise ValueError("cadrl.rewards.composite: `weights` is empty")
    return parts


def composite(
    completions: Sequence[Any],
    reference: Any = None,
    *,
    weights: Mapping[str, float | Mapping[str, Any]] | Sequence[tuple[str, Any]] = DEFAULT_WEIGHTS,
    mode: str = "in-place",
    var: str = "solid",
    invalid: float = 0.0,
    reference_column: str | None = None,
    **kwargs: Any,
) -> list[float]:
    """Weighted sum of rewards, e.g. ``weights={"iou": 1.0, "chamfer": 0.5, "valid": 0.1}``.

    ``mode`` goes to ``iou``; ``invalid`` to every part, so an invalid program scores
    ``sum(weights) * invalid``. A weight may be a dict with its own parameters
    (``{"iou": {"weight": 1.0, "mode": "bbox"}}``).
    """
    opts = {"weights": weights, "mode": mode, "invalid": invalid, "reference_column": reference_column}
    return _run("composite", completions, reference, var, opts, kwargs)


def make(kind: str, name: str | None = None, **params: Any) -> Callable[..., list[float]]:
    """A reward function with its parameters fixed and a name for trainers' logs.

    ``make("iou", mode="bbox", invalid=-0.5)`` is named ``iou_bbox`` unless ``name``
    is given; ``kind`` is one of ``iou``, ``chamfer``, ``valid``, ``composite``.
    """
    base = {"iou": iou, "chamfer": chamfer, "valid": valid, "composite": composite}.get(kind)
    if base is None:
        raise ValueError(f"cadrl.rewards.make: unknown reward {kind!r} (known: iou, chamfer, valid, composite)")
    # Check the parameters now rather than at the first training step.
    known = {"mode", "invalid", "weights", "reference_column"}
    checked, _ = _prepare(kind, [], "", {k: v for k, v in params.items() if k in known}, {})
    _native.score(kind, json.dumps(checked), [], [], str(params.get("var", "solid")))

    def reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return base(completions, **{**kwargs, **params})

    reward.__name__ = reward.__qualname__ = name or "_".join([kind, *(str(params[k]) for k in ("mode",) if k in params)])
    reward.__doc__ = base.__doc__
    return reward

