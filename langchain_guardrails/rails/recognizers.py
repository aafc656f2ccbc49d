"""Recognizers for sensitive data: each entity is a regex, a cheap pre-check and a validator.

Recognizers are deterministic: the same text always gives the same matches, which is what
makes masking reproducible however a stream is split. Entities:

=================  =====================================================================
``EMAIL_ADDRESS``  ``local@domain.tld``, also inside brackets, quotes and punctuation
``PHONE_NUMBER``   international (``+44 20 7946 0958``, ``0044 ...``), North American
                   (``(415) 555-2671``, ``415-555-2671``) and trunk-0 national formats
``CREDIT_CARD``    13-19 digits (spaces or dashes allowed), Luhn-checked, IIN 2-6
``IBAN_CODE``      country code, check digits and BBAN; length per country, mod-97 checked
``US_SSN``         ``123-45-6789`` / ``123 45 6789``, without never-issued numbers
``IP_ADDRESS``     IPv4 and IPv6 (validated by :mod:`ipaddress`)
``URL``            ``http(s)://``, ``ftp://`` and ``www.`` addresses
``API_KEY``        AWS access key ids and secrets, GitHub tokens, OpenAI-style ``sk-`` keys,
                   Slack, Stripe and Google API keys, JSON web tokens
``PRIVATE_KEY``    ``-----BEGIN ... PRIVATE KEY-----`` blocks (to the end of the text when the
                   block is not closed yet)
=================  =====================================================================
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

Hint = Callable[[str], bool]
Validator = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class EntityRecognizer:
    """Finds one entity: ``regex`` proposes, ``valid`` (if any) confirms each candidate."""

    entity: str
    regex: re.Pattern[str]
    hint: Hint | None = None
    """A cheap test on the whole text; when it is false the regex is not run."""
    valid: Validator | None = None
    trim: Callable[[str], int] | None = None
    """Returns how many characters of a candidate belong to the value (e.g. URL punctuation)."""
    group: int = 0
    """The regex group that is the value (the AWS secret is found by its key name)."""


@dataclass(frozen=True, slots=True)
class Found:
    """One value found in a text (positions only: callers never need the value itself)."""

    start: int
    end: int
    entity: str
    rank: int = 0
    """Priority on a tie (same start and length): lower wins."""


# -- validators -------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


_CARD_LENGTHS = frozenset((13, 14, 15, 16, 19))
_CARD_GROUPS = frozenset(((4, 6, 5), (4, 6, 4)))  # Amex, Diners


def _credit_card(candidate: str) -> bool:
    groups = tuple(len(g) for g in re.split("[ -]", candidate))
    digits = candidate.replace(" ", "").replace("-", "")
    if len(digits) not in _CARD_LENGTHS or digits[0] not in "23456":
        return False
    # Printed cards group digits by four (Amex and Diners 4-6-5 / 4-6-4); other groupings
    # are account numbers, IBAN tails or phone numbers.
    if (
        len(groups) > 1
        and groups not in _CARD_GROUPS
        and (any(size != 4 for size in groups[:-1]) or not 1 <= groups[-1] <= 4)
    ):
        return False
    return luhn_valid(digits)


IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
"""IBAN length by country (SWIFT IBAN registry)."""


def iban_valid(compact: str) -> bool:
    """Mod-97 check of an IBAN without spaces (``DE89370400440532013000``)."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _iban_length(candidate: str) -> int:
    """How many characters of ``candidate`` form a valid IBAN (0 when none does)."""
    expected = IBAN_LENGTHS.get(candidate[:2])
    if expected is None:
        return 0
    count = 0
    for index, char in enumerate(candidate):
        if char != " ":
            count += 1
            if count == expected:
                if candidate[index + 1 : index + 2].isalnum():
                    return 0  # the code runs on: longer than this country's IBAN
                compact = candidate[: index + 1].replace(" ", "")
                return index + 1 if iban_valid(compact) else 0
    return 0


def _ipv6(candidate: str) -> bool:
    address = candidate.split("%", 1)[0]
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    # "a::b" style tokens in code are valid addresses too; ask for two groups with content.
    return sum(1 for group in address.split(":") if group) >= 2


def _phone(candidate: str) -> bool:
    digits = sum(char.isdigit() for char in candidate)
    if candidate.startswith("+"):
        return 8 <= digits <= 15
    if candidate.startswith("00"):
        return 10 <= digits <= 17  # "00" + a full international number
    if candidate.startswith("0"):
        return 9 <= digits <= 12
    return digits == 10


def _openai_key(candidate: str) -> bool:
    body = candidate[3:]
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body)


def _trim_url(candidate: str) -> int:
    end = len(candidate)
    while end and candidate[end - 1] in ".,;:!?'\"*_~":
        end -= 1
    while (
        end
        and candidate[end - 1] == ")"
        and candidate.count("(", 0, end) < candidate.count(")", 0, end)
    ):
        end -= 1
    return end


def _has_digit(text: str) -> bool:
    return _DIGIT.search(text) is not None


_DIGIT = re.compile(r"\d")
_KEY_HINT = re.compile(r"AKIA|ASIA|gh[pousr]_|github_pat_|sk-|[sr]k_|xox|AIza|eyJ|(?i:secret)")

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9_%+-](?:[A-Za-z0-9._%+'-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_PHONE = re.compile(
    r"(?<![\w+])(?<!\d[ .-])(?:"
    r"(?:\+|\b00)[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?)(?:[ .-]?[0-9]{1,5}){1,6}"
    r"|(?:\([0-9]{3}\)[ .-]?|\b[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}"
    r"|\b0[0-9]{1,4}(?:[ .-][0-9]{2,4}){2,4}"
    r")(?![0-9]|[ .-][0-9])"
)
_CREDIT_CARD = re.compile(r"(?<![\d-])(?<!\d )\d(?:[ -]?\d){12,18}(?![\d-]|[ -]\d)")
_IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}")
_US_SSN = re.compile(
    r"(?<![\d-])(?<!\d )(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-]|[ -]\d)"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\d|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?:%[0-9A-Za-z]+)?(?![\w:]|\.\d)"
)
_URL = re.compile(r"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>\"'`\[\]{}|\\^]+")
_API_KEY = re.compile(
    r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{36,255}\b"
    r"|\bgithub_pat_[A-Za-z0-9_]{22,255}\b"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,250}"
    r"|\bAIza[0-9A-Za-z_-]{35}(?![\w-])"
    r"|\b[sr]k_(?:live|test)_[0-9A-Za-z]{16,247}\b"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
)
_OPENAI_KEY = re.compile(r"(?<![\w-])sk-[A-Za-z0-9_-]{20,250}(?![\w-])")
_AWS_SECRET = re.compile(
    r"(?i:aws_?secret_?(?:access_?)?key)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
    re.DOTALL,
)


def _contains(*needles: str) -> Hint:
    if len(needles) == 1:
        needle = needles[0]
        return lambda text: needle in text
    return lambda text: any(n in text for n in needles)


_BUILTIN: dict[str, tuple[EntityRecognizer, ...]] = {
    # Most specific first: on a tie (same span) the earlier entity wins.
    "PRIVATE_KEY": (EntityRecognizer("PRIVATE_KEY", _PRIVATE_KEY, _contains("-----BEGIN ")),),
    "API_KEY": (
        EntityRecognizer("API_KEY", _API_KEY, lambda text: _KEY_HINT.search(text) is not None),
        EntityRecognizer("API_KEY", _OPENAI_KEY, _contains("sk-"), _openai_key),
        EntityRecognizer("API_KEY", _AWS_SECRET, _contains("ecret", "ECRET"), group=1),
    ),
    "EMAIL_ADDRESS": (EntityRecognizer("EMAIL_ADDRESS", _EMAIL, _contains("@")),),
    "URL": (EntityRecognizer("URL", _URL, _contains("://", "www.", "WWW."), trim=_trim_url),),
    "IBAN_CODE": (EntityRecognizer("IBAN_CODE", _IBAN, _has_digit, trim=_iban_length),),
    "CREDIT_CARD": (EntityRecognizer("CREDIT_CARD", _CREDIT_CARD, _has_digit, _credit_card),),
    "US_SSN": (EntityRecognizer("US_SSN", _US_SSN, _has_digit),),
    "IP_ADDRESS": (
        EntityRecognizer("IP_ADDRESS", _IPV4, _contains(".")),
        EntityRecognizer("IP_ADDRESS", _IPV6, _contains(":"), _ipv6),
    ),
    "PHONE_NUMBER": (EntityRecognizer("PHONE_NUMBER", _PHONE, _has_digit, _phone),),
}
_RANK = {name: rank for rank, name in enumerate(_BUILTIN, start=1)}

BUILTIN_ENTITIES: tuple[str, ...] = tuple(_BUILTIN)
"""Entity names the package recognizes without configuration."""

USER_FLAGS = re.IGNORECASE | re.DOTALL | re.MULTILINE
"""Flags of user patterns: the ones Presidio (and so NeMo Guardrails) uses."""


def user_recognizers(
    entity: str, patterns: Iterable[str], deny_list: Sequence[str] = ()
) -> list[EntityRecognizer]:
    """Recognizers for a user entity: its regexes, and its deny list as whole words."""
    out = [EntityRecognizer(entity, re.compile(p, USER_FLAGS)) for p in patterns]
    if deny_list:
        words = sorted(deny_list, key=len, reverse=True)
        regex = rf"(?<!\w)(?:{'|'.join(map(re.escape, words))})(?!\w)"
        out.append(EntityRecognizer(entity, re.compile(regex, USER_FLAGS)))
    return out


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

    def find(self, text: str) -> list[Found]:
        """Non-overlapping matches, in text order; on overlap the earlier, then longer, wins."""
        found: list[Found] = []
        for recognizer in self.recognizers:
            if recognizer.hint is not None and not recognizer.hint(text):
                continue
            for match in recognizer.regex.finditer(text):
                start, end = match.span(recognizer.group)
                if recognizer.trim is not None:
                    end = start + recognizer.trim(text[start:end])
                    if end == start:
                        continue
                if recognizer.valid is not None and not recognizer.valid(text[start:end]):
                    continue
                found.append(Found(start, end, recognizer.entity, _RANK.get(recognizer.entity, 0)))
        if len(found) < 2:
            return found
        found.sort(key=lambda f: (f.start, f.start - f.end, f.rank))
        kept = [found[0]]
        for item in found[1:]:
            if item.start >= kept[-1].end:
                kept.append(item)
        return kept

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
    "user_recognizers",
]
