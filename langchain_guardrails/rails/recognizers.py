"""Recognizers for sensitive data: per entity, where to look, a regex and a validator.

Recognizers are deterministic: the same text always gives the same matches, which is what
makes masking reproducible however a stream is split. Entities:

=================  =====================================================================
``EMAIL_ADDRESS``  ``local@domain.tld``, also inside brackets, quotes and punctuation
``PHONE_NUMBER``   international (``+44 20 7946 0958``, ``0044 ...``), North American
                   (``(415) 555-2671``, ``1-800-555-0199``), trunk-0 national formats
                   (``030 12345678``, ``089/1234567``, ``(02) 9374 4000``), Brazilian
                   (``(11) 91234-5678``); bare digits after a word such as "call"
``CREDIT_CARD``    13-19 digits (spaces or dashes allowed), Luhn-checked, IIN 2-6; odd
                   groupings need a network prefix and groups of 4+ digits
``IBAN_CODE``      country code, check digits and BBAN; length per country, mod-97 checked
``US_SSN``         ``123-45-6789`` / ``123 45 6789``, or 9 bare digits after "SSN" or
                   "social security number", without never-issued numbers
``IP_ADDRESS``     IPv4 and IPv6 (validated by :mod:`ipaddress`)
``URL``            ``http(s)://``, ``ftp://`` and ``www.`` addresses (in a CSV field: to the
                   next delimiter)
``API_KEY``        AWS access key ids and secrets (under their usual key names), GitHub,
                   GitLab, Hugging Face, SendGrid, npm and PyPI tokens, OpenAI-style ``sk-``
                   keys, Slack, Stripe and Google API keys, JSON web tokens
``PRIVATE_KEY``    ``-----BEGIN ... PRIVATE KEY-----`` blocks (to the end of the text when the
                   block is not closed yet)
=================  =====================================================================
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import regex

from langchain_guardrails.config.pii_entities import BUILTIN_ENTITIES
from langchain_guardrails.rails import patterns as p
from langchain_guardrails.rails.landmarks import (
    Landmarks,
    Where,
    digit_runs,
    email_starts,
    iban_starts,
    ipv6_text,
    key_regions,
    needle_at,
    url_starts,
)
from langchain_guardrails.rails.patterns import IBAN_LENGTHS, iban_valid, luhn_valid

Validator = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class EntityRecognizer:
    """Finds one entity: ``regex`` proposes, ``valid`` (if any) confirms each candidate.

    ``where`` keeps the regex off most of the text: it names the regions ``(start, end)``
    where a value can be, from landmarks found by fast scans (digit runs, ``@`` signs, ``://``);
    without it the regex scans the whole text.
    """

    entity: str
    regex: re.Pattern[str] | regex.Pattern[str]
    where: Where | None = None
    anchored: bool = False
    """Each region starts exactly where a value would: the regex is matched there only."""
    valid: Validator | None = None
    trim: Callable[[str, str], int] | None = None
    """Returns how many characters of a candidate (given the character before it) belong to
    the value (e.g. not a URL's trailing punctuation nor the CSV fields after it)."""
    group: int = 0
    """The regex group that is the value (the AWS secret is found by its key name)."""
    timed: bool = False
    """A user pattern (a :mod:`regex` pattern): matched under the rail's timeout, since a
    config's regex may backtrack catastrophically. Built-in patterns are written not to."""


@dataclass(frozen=True, slots=True)
class Found:
    """One value found in a text (positions only: callers never need the value itself)."""

    start: int
    end: int
    entity: str
    rank: int = 0
    """Priority on a tie (same start and length): lower wins."""


def after_words(min_digits: int, reach: int) -> Where:
    """Regions of the digit runs of ``min_digits``+ digits and ``reach`` characters before
    them, where a context word ("phone", "SSN") can stand."""

    def where(marks: Landmarks) -> list[tuple[int, int]]:
        size = len(marks.text)
        return [
            (max(0, start - reach), min(size, end + 2))
            for start, end, digits, _ in marks.long_numbers
            if digits >= min_digits
        ]

    return where


def slashed_numbers(marks: Landmarks) -> Iterator[tuple[int, int]]:
    """Around each ``/`` between digits ("089/1234567"): the digit runs miss the slash."""
    text, size = marks.text, len(marks.text)
    for at in marks.positions("/"):
        if 0 < at < size - 1 and text[at - 1].isdigit() and text[at + 1].isdigit():
            yield max(0, at - 7), min(size, at + 14)


_BUILTIN: dict[str, tuple[EntityRecognizer, ...]] = {
    # Most specific first: on a tie (same span) the earlier entity wins.
    "PRIVATE_KEY": (
        EntityRecognizer("PRIVATE_KEY", p.PRIVATE_KEY, needle_at("-----BEGIN "), anchored=True),
    ),
    "API_KEY": (
        EntityRecognizer("API_KEY", p.A_KEYS),
        EntityRecognizer("API_KEY", p.API_KEY, key_regions),
        EntityRecognizer("API_KEY", p.OPENAI_KEY, key_regions, valid=p.openai_key_valid),
        EntityRecognizer("API_KEY", p.AWS_SECRET, key_regions, group=1),
    ),
    "EMAIL_ADDRESS": (EntityRecognizer("EMAIL_ADDRESS", p.EMAIL, email_starts, anchored=True),),
    "URL": (EntityRecognizer("URL", p.URL, url_starts, anchored=True, trim=p.trim_url),),
    "IBAN_CODE": (
        EntityRecognizer("IBAN_CODE", p.IBAN, iban_starts, anchored=True, trim=p.iban_length),
    ),
    "CREDIT_CARD": (
        EntityRecognizer("CREDIT_CARD", p.CREDIT_CARD, digit_runs(13), valid=p.credit_card_valid),
    ),
    "US_SSN": (
        EntityRecognizer("US_SSN", p.US_SSN, digit_runs(9)),
        EntityRecognizer(
            "US_SSN", p.US_SSN_CONTEXT, after_words(9, 28), valid=p.ssn_valid, group=1
        ),
    ),
    "IP_ADDRESS": (
        EntityRecognizer("IP_ADDRESS", p.IPV4, digit_runs(4, min_dots=3)),
        EntityRecognizer("IP_ADDRESS", p.IPV6, ipv6_text, valid=p.ipv6_valid),
    ),
    "PHONE_NUMBER": (
        EntityRecognizer("PHONE_NUMBER", p.PHONE, digit_runs(7), valid=p.phone_valid),
        EntityRecognizer("PHONE_NUMBER", p.PHONE, slashed_numbers, valid=p.phone_valid),
        EntityRecognizer(
            "PHONE_NUMBER",
            p.PHONE_CONTEXT,
            after_words(10, 30),
            valid=p.bare_phone_valid,
            group=1,
        ),
    ),
}
_RANK = {name: rank for rank, name in enumerate(_BUILTIN, start=1)}
_LOOKAHEAD = 2
"""The most characters any built-in regex looks at after its match."""

if tuple(_BUILTIN) != BUILTIN_ENTITIES:  # the config validates names against that list
    raise RuntimeError("pii_entities.BUILTIN_ENTITIES is out of step with the recognizers")

USER_FLAGS = re.IGNORECASE | re.DOTALL | re.MULTILINE
"""Flags of user patterns: the ones Presidio (and so NeMo Guardrails) uses."""


def user_recognizers(
    entity: str, patterns: Iterable[str], deny_list: Sequence[str] = ()
) -> list[EntityRecognizer]:
    r"""Recognizers for a user entity: its regexes, and its deny list as whole words.

    The regexes are compiled with the :mod:`regex` package so that :meth:`Scanner.find` can
    bound them by a timeout.

    Example:
        .. code-block:: python

            (emp,) = user_recognizers("EMPLOYEE_ID", [r"EMP-\d{6}"])
    """
    out = [
        EntityRecognizer(entity, regex.compile(pattern, USER_FLAGS), timed=True)
        for pattern in patterns
    ]
    if deny_list:
        words = sorted(deny_list, key=len, reverse=True)
        words_regex = rf"(?<!\w)(?:{'|'.join(map(re.escape, words))})(?!\w)"
        out.append(EntityRecognizer(entity, re.compile(words_regex, USER_FLAGS)))
    return out


def non_overlapping(found: list[Found]) -> list[Found]:
    """Matches in text order without overlaps: on overlap the earlier, then the longer, then
    the higher-priority match wins."""
    if len(found) < 2:
        return found
    found.sort(key=lambda f: (f.start, f.start - f.end, f.rank))
    kept = [found[0]]
    for item in found[1:]:
        if item.start >= kept[-1].end:
            kept.append(item)
    return kept


class Scanner:
    """Finds and masks the entities of one configured stage. Immutable; safe to share.

    Example:
        .. code-block:: python

            scanner = Scanner.for_entities(["EMAIL_ADDRESS"])
            scanner.mask("mail a@b.co", "<{entity}>")  # ("mail <EMAIL_ADDRESS>", ["EMAIL_ADDRESS"])
    """

    __slots__ = ("recognizers",)

    def __init__(self, recognizers: Sequence[EntityRecognizer]) -> None:
        self.recognizers = tuple(recognizers)

    @classmethod
    def for_entities(
        cls, entities: Iterable[str], extra: Sequence[EntityRecognizer] = ()
    ) -> Scanner:
        """Built-in recognizers of ``entities`` plus the ``extra`` ones of those entities."""
        wanted = list(dict.fromkeys(entities))
        chosen = [r for name in wanted for r in _BUILTIN.get(name, ())]
        chosen += [r for r in extra if r.entity in wanted]
        return cls(chosen)

    def find(self, text: str, timeout: float | None = None) -> list[Found]:
        """Non-overlapping matches, in text order; on overlap the earlier, then longer, wins.

        ``timeout`` (seconds) bounds the user patterns together: past it, ``TimeoutError``
        (the rail fails closed).

        Example:
            .. code-block:: python

                Scanner.for_entities(["URL"]).find("see www.example.com")  # [Found(4, 19, ...)]
        """
        found: list[Found] = []
        marks, size = Landmarks(text), len(text)
        deadline = None if timeout is None else time.monotonic() + timeout
        for recognizer in self.recognizers:
            pattern, rank = recognizer.regex, _RANK.get(recognizer.entity, 0)
            options: dict[str, Any] = {}
            if recognizer.timed and deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("sensitive-data patterns ran out of time")
                options["timeout"] = left
            # Regions are in text order and may overlap: like one finditer over the whole
            # text, a region resumes where the previous match ended (matches never overlap).
            resume = 0
            for pos, end in recognizer.where(marks) if recognizer.where else ((0, size),):
                if pos < resume and (recognizer.anchored or end <= resume):
                    continue
                pos = max(pos, resume)
                if recognizer.anchored:
                    match = pattern.match(text, pos, **options)
                    matches: Iterable[re.Match[str] | regex.Match[str]] = (match,) if match else ()
                    end = size  # the match sees the whole text after its start
                else:
                    matches = pattern.finditer(text, pos, end, **options)
                for match in matches:
                    if end < size and match.end() > end - _LOOKAHEAD:
                        break  # the region's end cut the text: another region finds it whole
                    resume = match.end()
                    start, stop = match.span(recognizer.group)
                    if recognizer.trim is not None:
                        before = text[start - 1 : start] if start else ""
                        stop = start + recognizer.trim(text[start:stop], before)
                        if stop == start:
                            continue
                    if recognizer.valid is not None and not recognizer.valid(text[start:stop]):
                        continue
                    found.append(Found(start, stop, recognizer.entity, rank))
        return non_overlapping(found)

    def mask(self, text: str, token: str) -> tuple[str, list[str]]:
        """``text`` with every match replaced by ``token`` (``{entity}`` filled in), and the
        entity names masked. Text outside the matches is never changed."""
        found = self.find(text)
        if not found:
            return text, []
        parts: list[str] = []
        position = 0
        for item in found:
            parts.append(text[position : item.start])
            parts.append(token.replace("{entity}", item.entity))
            position = item.end
        parts.append(text[position:])
        return "".join(parts), list(dict.fromkeys(f.entity for f in found))


__all__ = [
    "BUILTIN_ENTITIES",
    "IBAN_LENGTHS",
    "EntityRecognizer",
    "Found",
    "Scanner",
    "iban_valid",
    "luhn_valid",
    "non_overlapping",
    "user_recognizers",
]
