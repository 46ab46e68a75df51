"""cadrl's rewards as an OpenRLHF ``reward_func`` (``--remote_rm_url reward.py``).

OpenRLHF loads a file defining ``reward_func(queries, prompts, labels)``: ``queries``
are prompt + response as decoded text (chat template and end-of-sequence tokens
included), ``labels`` the data set's ``--label_key`` column, here the reference
program. The file can be just::

    from cadrl.openrlhf import reward_func

Returns ``{"rewards": tensor, "scores": tensor, "extra_logs": {"cadrl_scored": tensor}}``
(torch tensors when torch is importable, as OpenRLHF expects; lists otherwise).
``cadrl_scored`` is 1 where the response was scored (valid, with a reference), 0 where
it was penalised. Set the reward with :func:`configure` (``configure(reward="composite", weights=...)``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from . import rewards

__all__ = ["reward_func", "configure", "response_text"]

_CONFIG: dict[str, Any] = {"reward": "iou"}
# Special tokens a decoded query ends with: <|im_end|>, <|endoftext|>, </s>, <eos>, ...
_TRAILING_SPECIALS = re.compile(r"(?:\s*(?:<\|[A-Za-z0-9_]+\|>|</s>|<eos>|<end_of_turn>))+\s*\Z")


def configure(*, reward: str = "iou", **params: Any) -> None:
    """Choose the reward (``iou`` | ``chamfer`` | ``valid`` | ``composite``) and its parameters."""
    if reward not in ("iou", "chamfer", "valid", "composite"):
        raise ValueError(f"cadrl.openrlhf: unknown reward {reward!r}")
    _CONFIG.clear()
    _CONFIG.update(reward=reward, **params)


def response_text(query: str, prompt: str) -> str:
    """The response part of a query, without trailing special tokens."""
    text = query[len(prompt):] if prompt and query.startswith(prompt) else query
    return _TRAILING_SPECIALS.sub("", text)


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], **kwargs: Any) -> dict[str, Any]:
    """Score every response against its label; bad programs score ``invalid``."""
    responses = [response_text(q, p) for q, p in zip(queries, prompts, strict=True)]
    params = dict(_CONFIG)
    kind = params.pop("reward")
    refs = [lab if isinstance(lab, str) else None for lab in labels]
    values, reasons = rewards.explain(kind, responses, refs, **params)
    ok = [float(r is None) for r in reasons]
    try:
        import torch
    except ImportError:
        return {"rewards": values, "scores": values, "extra_logs": {"cadrl_scored": ok}}
    t = torch.tensor(values, dtype=torch.float32)
    return {"rewards": t, "scores": t.clone(), "extra_logs": {"cadrl_scored": torch.tensor(ok, dtype=torch.float32)}}
