"""Landmarks: cheap facts about a text (digit runs, ``@`` signs, ``://``) found with fast scans,
so that each recognizer runs its regex only where a value can be, not over the whole text.

This is what keeps the recognizer rails at a few microseconds per window: most windows of
prose have no ``@``, no ``://`` and only short numbers, and cost a handful of ``str.find``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from langchain_guardrails.rails.patterns import KEY_TOKEN, NUMBER, TOKEN_CHARS, TOKEN_TAIL

Where = Callable[["Landmarks"], Iterable[tuple[int, int]]]
"""Regions ``(start, end)`` of a text where a recognizer's value can be."""


class Landmarks:
    """Cheap facts about one text, computed once per scan and shared by the recognizers."""

    __slots__ = ("_long_numbers", "_numbers", "_tokens", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._numbers: list[tuple[int, int]] | None = None
        self._long_numbers: list[tuple[int, int, int, int]] | None = None
        self._tokens: list[tuple[int, int]] | None = None

    @property
    def numbers(self) -> list[tuple[int, int]]:
        """Spans of the runs of digits and separators (``+44 20 7946``, ``4111-1111``)."""
        if self._numbers is None:
            self._numbers = _number_spans(self.text)
        return self._numbers

    @property
    def long_numbers(self) -> list[tuple[int, int, int, int]]:
        """The runs with 4+ digits (the fewest any number entity has): ``(start, end, digits,
        dots)``."""
        if self._long_numbers is None:
            text = self.text
            runs = [
                (start, end, text[start:end]) for start, end in self.numbers if end - start >= 4
            ]
            self._long_numbers = [
                (start, end, digits, run.count("."))
                for start, end, run in runs
                for digits in (sum(map(str.isdigit, run)),)
                if digits >= 4
            ]
        return self._long_numbers

    @property
    def key_tokens(self) -> list[tuple[int, int]]:
        """Regions around the tokens of 20+ characters that hold a digit (API key shapes)."""
        if self._tokens is None:
            self._tokens = list(_key_tokens(self))
        return self._tokens

    def positions(self, needle: str) -> Iterator[int]:
        """Every index of ``needle`` (``str.find`` speed)."""
        text, at = self.text, self.text.find(needle)
        while at >= 0:
            yield at
            at = text.find(needle, at + 1)


def _number_spans(text: str) -> list[tuple[int, int]]:
    """The spans ``patterns.NUMBER`` finds. For ASCII text every digit is first turned into
    ``0`` (``bytes.translate``): a regex that starts with a literal skips to each ``0`` at
    memory-scan speed, where one that starts with a character class tests every character."""
    if not text.isascii():
        return [m.span() for m in NUMBER.finditer(text)]
    return [m.span() for m in _MARKED_NUMBER.finditer(text.encode("ascii").translate(_ZEROS))]


_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_MARKED_NUMBER = re.compile(rb"0[0 ().+-]*")


def digit_runs(min_digits: int, min_dots: int = 0) -> Where:
    def where(marks: Landmarks) -> list[tuple[int, int]]:
        size = len(marks.text)
        return [
            (max(0, start - 1), min(size, end + 2))  # "+" or "(" may precede the digits
            for start, end, digits, dots in marks.long_numbers
            if digits >= min_digits and dots >= min_dots
        ]

    return where


def iban_starts(marks: Landmarks) -> Iterator[tuple[int, int]]:
    text = marks.text
    for start, _ in marks.numbers:
        country = text[start - 2 : start]
        if start >= 2 and country.isascii() and country.isupper() and country.isalpha():
            yield start - 2, start - 2


def _key_tokens(marks: Landmarks) -> Iterator[tuple[int, int]]:
    # Every key shape holds a digit, "_" or "-" (JSON web tokens: the digits of their "alg"),
    # but for AWS ids and Google keys, which patterns.A_KEYS finds on its own: the tokens
    # around those characters are the candidates.
    text, size, done = marks.text, len(marks.text), -1
    anchors = [start for start, _ in marks.numbers]
    for char in "_-":
        at = text.find(char)
        while at >= 0:
            anchors.append(at)
            at = text.find(char, at + 1)
    anchors.sort()
    for anchor in anchors:
        if anchor < done:
            continue  # inside the token already looked at
        if (anchor == 0 or text[anchor - 1] not in TOKEN_CHARS) and " " in text[
            anchor : anchor + KEY_TOKEN
        ]:
            continue  # the token starts here and a space ends it within 20 characters
        first = anchor
        while first > 0 and text[first - 1] in TOKEN_CHARS:
            first -= 1
        done = TOKEN_TAIL.match(text, anchor).end()  # type: ignore[union-attr]
        if done - first >= KEY_TOKEN:
            # Room for a key name before ("aws_secret_access_key = ") or a value after it.
            yield max(0, first - 40), min(size, done + 64)


def key_regions(marks: Landmarks) -> list[tuple[int, int]]:
    return marks.key_tokens


def email_starts(marks: Landmarks) -> Iterator[tuple[int, int]]:
    """Where an address with each ``@`` can start: at the start of the run of local-part
    characters before it, or just after an apostrophe in that run (the only local-part
    character the address regex accepts before its first character)."""
    text = marks.text
    for at in marks.positions("@"):
        start = at  # a local part has at most 64 characters
        while start > 0 and at - start < 64 and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        yield start, start
        quote = text.find("'", start, at)
        while quote >= 0:
            yield quote + 1, quote + 1
            quote = text.find("'", quote + 1, at)


_LOCAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+'-")


def url_starts(marks: Landmarks) -> list[tuple[int, int]]:
    text, starts = marks.text, []
    schemes = marks.positions("://") if ":" in text else ()  # one-character test first: fast
    for at in schemes:
        start = at
        while start > 0 and at - start < 5 and text[start - 1].isalpha():
            start -= 1
        starts.append((start, start))
    for needle in ("www.", "WWW."):
        starts.extend((at, at) for at in marks.positions(needle))
    return sorted(starts)


def ipv6_text(marks: Landmarks) -> list[tuple[int, int]]:
    text = marks.text
    colons = text.count(":")  # an address has 7 colons, or fewer with "::"
    return [(0, len(text))] if colons >= 7 or (colons >= 2 and "::" in text) else []


def needle_at(needle: str) -> Where:
    return lambda marks: ((at, at) for at in marks.positions(needle))


__all__ = [
    "Landmarks",
    "Where",
    "digit_runs",
    "email_starts",
    "iban_starts",
    "ipv6_text",
    "key_regions",
    "needle_at",
    "url_starts",
]
