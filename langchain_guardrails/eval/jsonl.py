"""Reading the JSONL files of ``eval``: UTF-8 text, one strict JSON value a line.

Both dataset kinds (labelled examples and spans) read through here, so they refuse the same
things with the same messages, each naming the file and line: a binary or non-UTF-8 file, a
line nested deeper than :data:`~langchain_guardrails.engine.json_depth.MAX_JSON_DEPTH` (a line
nested 100,000 deep no longer ends in a ``RecursionError``), and an object with a key twice (JSON
keeps the last one silently, so a mislabelled line would go unnoticed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_guardrails.engine.json_depth import MAX_JSON_DEPTH, json_depth


class JSONLError(ValueError):
    """A file or line that cannot be read; the message says why, without the file's name."""


def read_lines(file: Path) -> list[str]:
    """The lines of ``file`` as UTF-8 text.

    Raises:
        OSError: the file cannot be opened (callers name it).
        JSONLError: the file is binary (holds a NUL byte) or not UTF-8.

    Example:
        .. code-block:: python

            read_lines(Path("set.jsonl"))[0]  # '{"input": "hi", "label": "allow"}'
    """
    raw = file.read_bytes()
    if b"\x00" in raw:
        raise JSONLError(f"a binary file, not JSONL text (NUL byte at offset {raw.index(0)})")
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise JSONLError(f"not UTF-8 text (byte {exc.start} cannot be decoded)") from None


def decode_line(raw: str) -> Any:
    """One line's JSON value.

    Raises:
        JSONLError: not JSON, nested too deeply, or an object with a duplicate key.

    Example:
        .. code-block:: python

            decode_line('{"input": "hi", "label": "allow"}')["label"]  # "allow"
    """
    try:
        value = json.loads(raw, object_pairs_hook=_unique_keys)
    except RecursionError:
        value = None
        too_deep = True
    except json.JSONDecodeError as exc:
        raise JSONLError(f"not valid JSON ({exc.msg})") from None
    else:
        too_deep = json_depth(value) > MAX_JSON_DEPTH
    if too_deep:
        raise JSONLError(f"nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JSONLError(f"duplicate key {key!r}")
            seen.add(key)
    return value


__all__ = ["JSONLError", "decode_line", "read_lines"]
