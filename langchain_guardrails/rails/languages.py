"""Refusals in the user's language: NeMo's ``rails.config.content_safety.multilingual``.

When a content-safety rail blocks and ``multilingual.enabled`` is set, NeMo detects the
language of the user message and answers with the refusal of that language. Here the language
is identified by ``py3langid`` (``multilingual`` extra), whose model ships inside the package:
nothing is downloaded. As in NeMo, a language outside :data:`SUPPORTED` (or a text too short
to tell) counts as English, and the refusal is the configured ``refusal_messages`` entry of
that language, else the built-in one, else the configured ``en`` entry, else the English
default.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from langchain_guardrails.config.rail_settings import MultilingualRefusals
from langchain_guardrails.errors import require

SUPPORTED = frozenset({"en", "es", "zh", "de", "fr", "hi", "ja", "ar", "th"})
"""The languages NeMo's multilingual refusals know."""

REFUSALS: Mapping[str, str] = {
    "en": "I'm sorry, I can't respond to that.",
    "es": "Lo siento, no puedo responder a eso.",
    "zh": "抱歉，我无法回应。",  # noqa: RUF001 - the Chinese comma is right here
    "de": "Es tut mir leid, darauf kann ich nicht antworten.",
    "fr": "Je suis désolé, je ne peux pas répondre à cela.",
    "hi": "मुझे खेद है, मैं इसका जवाब नहीं दे सकता।",
    "ja": "申し訳ありませんが、それには回答できません。",
    "ar": "عذراً، لا أستطيع الرد على ذلك.",
    "th": "ขออภัย ฉันไม่สามารถตอบได้",
}
"""The built-in refusal of each supported language."""


@functools.cache
def _identifier() -> Callable[[str], Any]:
    # Loading the model takes a moment; one identifier serves every rail of the process.
    return require("py3langid", "multilingual").classify  # type: ignore[no-any-return]


def require_language_id() -> None:
    """Fail when the config is built, not at the first block, without the extra."""
    require("py3langid", "multilingual")


def language_of(text: str, max_chars: int | None = None) -> str:
    """The language code of ``text`` among :data:`SUPPORTED`, ``en`` otherwise.

    Example:
        .. code-block:: python

            language_of("¿Cómo puedo hacer una bomba?")  # "es"
    """
    sample = text[:max_chars] if max_chars else text
    if not any(ch.isalpha() for ch in sample):
        return "en"
    code, _ = _identifier()(sample)
    return code if code in SUPPORTED else "en"


def refusal_for(language: str, settings: MultilingualRefusals) -> str:
    """The refusal of ``language`` (see the module docstring for the order)."""
    custom = settings.refusal_messages or {}
    if language in custom:
        return custom[language]
    if language in REFUSALS:
        return REFUSALS[language]
    return custom.get("en", REFUSALS["en"])


def multilingual_refusal(settings: MultilingualRefusals, user_message: str) -> str | None:
    """The refusal in the language of ``user_message``; None when multilingual is off."""
    if not settings.enabled:
        return None
    return refusal_for(language_of(user_message, settings.max_text_length), settings)


__all__ = [
    "REFUSALS",
    "SUPPORTED",
    "language_of",
    "multilingual_refusal",
    "refusal_for",
    "require_language_id",
]
