"""Reading the verdict out of a guard model's answer, the way real models write it.

Models add punctuation, markdown, capitals, leading spaces, ``<think>`` blocks and reasoning
before the verdict. The parsers here accept all of that, and say precisely why when an answer
has no usable verdict (the rail then blocks: fail-closed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

YesNo = Literal["yes", "no"]

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_WORD = re.compile(r"[a-z]+")
_MARKER = re.compile(
    r"\b(?:final\s+answer|answer|verdict|decision|conclusion|result)\b\s*(?:is|:|-|=)?\s*"
    r"[\s*\"'`_]*(yes|no)\b",
    re.IGNORECASE,
)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_FIELD_LINE = r"^[\s*\"'`_]*{field}[\s*\"'`_]*:\s*[\s*\"'`_]*(safe|unsafe)\b"
_CATEGORY_LINE = re.compile(
    r"^[\s*\"'`_]*(?:safety|violated)\s+categories[\s*\"'`_]*:\s*(.*)$",
    re.IGNORECASE | re.MULTILINE,
)

NO_VERDICT = "the answer has no Yes/No verdict"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A parsed safety verdict: ``safe`` is None when the answer could not be read."""

    safe: bool | None
    categories: tuple[str, ...] = ()
    problem: str | None = None
    """Why the answer could not be read (no quote of it: it may echo checked text)."""


def strip_reasoning(answer: str) -> tuple[str, str | None]:
    """The answer without ``<think>`` blocks; a problem when a reasoning block never ends."""
    text = _THINK.sub(" ", answer)
    if "<think>" in text.lower():
        return "", "the answer's <think> block never ends (truncated reasoning)"
    return text.strip(), None


def yes_no(answer: str) -> tuple[YesNo | None, str | None]:
    """The Yes/No verdict of ``answer``, or ``(None, why)``.

    The verdict is, in order: the first word; the last ``answer: yes`` style statement; the
    only kind of Yes/No word present; the word ending the last line. An answer that says
    both Yes and No with none of these cues has no verdict.

    Example:
        .. code-block:: python

            yes_no("  **YES.**")  # ("yes", None)
            yes_no("The request is harmless.\\nAnswer: No")  # ("no", None)
    """
    text, problem = strip_reasoning(answer)
    if problem:
        return None, problem
    words = _WORD.findall(text.lower())
    if not words:
        return None, "the answer is empty"
    if words[0] in ("yes", "no"):
        return words[0], None
    markers = _MARKER.findall(text)
    if markers:
        return markers[-1].lower(), None
    kinds = {w for w in words if w in ("yes", "no")}
    if len(kinds) == 1:
        return kinds.pop(), None
    last_line = next((line for line in reversed(text.splitlines()) if line.strip()), "")
    last_words = _WORD.findall(last_line.lower())
    if last_words and last_words[-1] in ("yes", "no"):
        return last_words[-1], None
    if not kinds:
        return None, NO_VERDICT
    return None, "the answer says both Yes and No without a clear final verdict"


def safety(answer: str, field: str) -> Verdict:
    """A content-safety verdict in any of the formats guard models use.

    ``field`` is the JSON key / line label to read (``"User Safety"`` for input checks,
    ``"Response Safety"`` for output checks). Formats, tried in order: a JSON object
    (NemoGuard: ``{"User Safety": "unsafe", "Safety Categories": "Violence, Threat"}``),
    ``Field: safe|unsafe`` lines (Nemotron), ``safe`` / ``unsafe`` followed by categories
    (Llama Guard: ``unsafe\\nS1,S10``), and Yes/No (``Yes`` = unsafe, ShieldGemma).

    Example:
        .. code-block:: python

            safety("unsafe\\nS1,S10", "User Safety")  # Verdict(False, ("S1", "S10"))
    """
    text, problem = strip_reasoning(answer)
    if problem:
        return Verdict(None, problem=problem)
    if not text:
        return Verdict(None, problem="the answer is empty")
    unfenced = _FENCE.sub("", text).strip()
    if "{" in unfenced and "}" in unfenced:
        return _json_verdict(unfenced, field)
    line = re.search(_FIELD_LINE.format(field=re.escape(field)), text, re.I | re.M)
    if line is not None:
        categories = _CATEGORY_LINE.search(text)
        return _verdict(line.group(1).lower() == "safe", categories.group(1) if categories else "")
    words = _WORD.findall(text.lower())
    first = words[0] if words else ""
    if first in ("safe", "unsafe"):
        rest = re.split(r"unsafe", text, maxsplit=1, flags=re.I)[1] if first == "unsafe" else ""
        return _verdict(first == "safe", rest)
    verdict, why = yes_no(text)
    if verdict is not None:
        return Verdict(verdict == "no")
    if why == NO_VERDICT:
        why = f"the answer has no safe/unsafe verdict (nor a {field!r} field or Yes/No)"
    return Verdict(None, problem=why)


def harm(answer: str, field: str) -> Verdict:
    """A ``Prompt harm: harmful|unharmful`` verdict (Nemotron Content Safety Reasoning).

    ``field`` is ``"Prompt harm"`` (input checks) or ``"Response harm"`` (output checks),
    read case-insensitively after any ``<think>`` block, as NeMo's
    ``nemotron_reasoning_parse_*_safety`` parsers read them. An answer without the line, or
    stating it twice with different values, has no verdict (the rail then blocks).

    Example:
        .. code-block:: python

            harm("<think>...</think>\nPrompt harm: unharmful\nResponse harm: None", "Prompt harm")
            # Verdict(True)
    """
    text, problem = strip_reasoning(answer)
    if problem:
        return Verdict(None, problem=problem)
    pattern = rf"^[\s*\"'`_]*{re.escape(field)}[\s*\"'`_]*:\s*[\s*\"'`_]*([a-z]+)\b"
    values = {v.lower() for v in re.findall(pattern, text, re.IGNORECASE | re.MULTILINE)}
    if len(values) > 1:
        return Verdict(None, problem=f"the answer states {field!r} twice, differently")
    value = values.pop() if values else None
    if value not in ("harmful", "unharmful"):
        return Verdict(None, problem=f"the answer has no {field!r}: harmful|unharmful")
    return Verdict(value == "unharmful")


def _json_verdict(text: str, field: str) -> Verdict:
    start, end = text.find("{"), text.rfind("}")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        return Verdict(None, problem=f"the answer's JSON does not parse ({exc.msg})")
    if not isinstance(data, dict):
        return Verdict(None, problem="the answer's JSON is not an object")
    by_key = {str(k).strip().lower(): v for k, v in data.items()}
    value = by_key.get(field.lower())
    if not isinstance(value, str) or value.strip().lower() not in ("safe", "unsafe"):
        return Verdict(None, problem=f"the answer's JSON has no {field!r}: safe|unsafe")
    raw = by_key.get("safety categories", by_key.get("violated categories", ""))
    categories = ", ".join(map(str, raw)) if isinstance(raw, list) else str(raw or "")
    return _verdict(value.strip().lower() == "safe", categories)


def _verdict(safe: bool, categories: str) -> Verdict:
    if safe:
        return Verdict(True)
    names = [c.strip(" .*\"'`") for c in re.split(r"[,\n]+|\s{2,}", categories)]
    parts = [piece for name in names for piece in _split_codes(name) if piece]
    return Verdict(False, tuple(dict.fromkeys(parts)))


def _split_codes(name: str) -> list[str]:
    # "S1 S10" (codes separated by spaces) are several categories; "Hate/Identity Hate" is one.
    tokens = name.split()
    if len(tokens) > 1 and all(re.fullmatch(r"[A-Za-z]\d+", t) for t in tokens):
        return tokens
    return [name]


__all__ = ["NO_VERDICT", "Verdict", "harm", "safety", "strip_reasoning", "yes_no"]
