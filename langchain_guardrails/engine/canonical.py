"""The canonical form of a channel: what a consumer sees after decoding what it receives.

Rails check this form, never the bytes in transit, so an encoding the consumer undoes cannot
hide a phrase from them:

* text is NFKC-normalised (fullwidth ``\\uff20`` is ``@``, the ligature ``\\ufb01`` is ``fi``) with
  zero-width and other invisible format characters removed (``ign\\u200bore`` is ``ignore``);
* JSON (tool-call arguments, JSON tool results) is decoded, so ``\\u0068unter2`` is ``hunter2``,
  and re-serialised without ASCII escaping, then normalised as text.

The canonical form is for *checking*: what is released is the model's own text (or a rail's
rewrite), and a tool call's arguments are released as :func:`decoded_json` gives them, so the
value a client decodes is the value the rails passed.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import regex

_INVISIBLE = regex.compile(
    r"[\p{Cf}"  # format characters: zero-width space/joiners, bidi controls, BOM, soft hyphen, tags
    r"\u034f"  # combining grapheme joiner
    r"\u115f\u1160\u3164\uffa0"  # Hangul fillers (render as nothing)
    r"\ufe00-\ufe0f\U000e0100-\U000e01ef"  # variation selectors
    r"]+"
)


def check_text(text: str) -> str:
    """``text`` as rails check it: invisible characters removed, then NFKC-normalised.

    ASCII text is returned as it is (the common case costs one ``isascii`` call).

    Example:
        .. code-block:: python

            check_text("ign\\u200bore ann\\uff20example.com")  # "ignore ann@example.com"
    """
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))


def decoded_json(raw: str) -> str | None:
    """``raw`` JSON decoded and re-serialised without ASCII escaping, or None when it is not
    JSON. This is the form a client's JSON parser gives back, so it is what a tool call's
    arguments are released (and checked) as.

    Example:
        .. code-block:: python

            decoded_json('{"v": "\\\\u0068unter2"}')  # '{"v": "hunter2"}'
    """
    stripped = raw.strip()
    if not stripped or (stripped[0] not in '{["' and not _scalar(stripped)):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return dump_json(value)


def dump_json(value: Any) -> str:
    """``value`` as JSON without ASCII escaping (what :func:`decoded_json` produces)."""
    return json.dumps(value, ensure_ascii=False)


def check_json_text(raw: str) -> str:
    """The checked form of text that may be JSON (a tool result, tool-call arguments): decoded
    when it is JSON, then :func:`check_text`."""
    decoded = decoded_json(raw)
    return check_text(raw if decoded is None else decoded)


def _scalar(text: str) -> bool:
    return text in ("true", "false", "null") or text[0] in "-0123456789"


__all__ = ["check_json_text", "check_text", "decoded_json", "dump_json"]
