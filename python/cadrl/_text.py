"""Turn what trainers pass as a completion into program text.

TRL passes plain strings for standard data sets and lists of chat messages
(``[{"role": "assistant", "content": ...}]``) for conversational ones; message
content may itself be a list of typed parts (``[{"type": "text", "text": ...}]``).
Models wrap code in Markdown fences (```python ... ```); the fence is dropped and
the first fenced block is the program. An unclosed fence (a generation cut off by
``max_completion_length``) keeps everything after the opening line.
Anything that is not text becomes ``""``, which scores as invalid.
"""

from __future__ import annotations

import re
from typing import Any

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def message_text(completion: Any) -> str:
    """The text of a completion: a string, or the last assistant message of a chat."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        msgs = [m for m in completion if isinstance(m, dict)]
        assistant = [m for m in msgs if m.get("role") == "assistant"]
        pick = assistant[-1] if assistant else (msgs[-1] if msgs else None)
        return _content_text(pick.get("content")) if pick is not None else ""
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict) and isinstance(p.get("text"), str):
                parts.append(p["text"])
        return "".join(parts)
    return ""


def strip_fences(text: str) -> str:
    """The first fenced code block of ``text``, or ``text`` itself when it has none."""
    if "```" not in text:
        return text
    m = _FENCE.search(text)
    if m is None:  # a fence with no newline after it: drop the backticks
        return text.replace("```", "")
    return m.group(2)


def program(completion: Any) -> str:
    """Program text of one completion (string or chat), fences stripped."""
    return strip_fences(message_text(completion))
