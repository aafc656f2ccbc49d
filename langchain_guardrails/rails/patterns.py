"""The patterns and validators behind the built-in recognizers (see
:mod:`~langchain_guardrails.rails.recognizers`): a regex proposes a value, a validator
(checksum, length, structure) confirms it."""

from __future__ import annotations

import ipaddress
import re


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
# Issuer prefixes of the major networks (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay).
_BRAND = re.compile(
    r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[68])|35|6(?:011|2|4[4-9]|5)"
)


def credit_card_valid(candidate: str) -> bool:
    groups = tuple(len(g) for g in re.split("[ -]+", candidate))
    digits = "".join(char for char in candidate if char.isdigit())
    if len(digits) not in _CARD_LENGTHS or digits[0] not in "23456":
        return False
    # Printed cards group digits by four (Amex and Diners 4-6-5 / 4-6-4). Typed ones may be
    # grouped oddly ("41111111 11111111"): those need a network's prefix and groups of 4+
    # digits, since short groups are account numbers, IBAN tails or phone numbers.
    if (
        len(groups) > 1
        and groups not in _CARD_GROUPS
        and (any(size != 4 for size in groups[:-1]) or not 1 <= groups[-1] <= 4)
        and (min(groups) < 4 or _BRAND.match(digits) is None)
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


def iban_length(candidate: str, before: str = "") -> int:
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


def ipv6_valid(candidate: str) -> bool:
    address = candidate.split("%", 1)[0]
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    # "a::b" style tokens in code are valid addresses too; ask for two groups with content.
    return sum(1 for group in address.split(":") if group) >= 2


def phone_valid(candidate: str) -> bool:
    digits = sum(char.isdigit() for char in candidate)
    if candidate.startswith("+"):
        return 8 <= digits <= 15
    if candidate.startswith("00"):
        return 10 <= digits <= 17  # "00" + a full international number
    if candidate.startswith(("0", "(0")):
        return 9 <= digits <= 12
    if candidate[:1] == "1" and candidate[1:2] in (" ", "-", ".", "("):
        return digits == 11  # "1-" + a North American number
    return digits in (10, 11)  # North American, Brazilian (2-digit area code + 8 or 9)


def bare_phone_valid(candidate: str) -> bool:
    """A number without separators, after a phone context word: North American (area code
    and exchange 2-9), or national with trunk 0 (UK, German...)."""
    if candidate[0] == "0":
        return 10 <= len(candidate) <= 12
    if candidate[0] == "1" and len(candidate) == 11:
        candidate = candidate[1:]
    return len(candidate) == 10 and candidate[0] in "23456789" and candidate[3] in "23456789"


def ssn_valid(candidate: str) -> bool:
    """A US SSN of 9 digits: none of the never-issued areas, groups or serials."""
    area, group, serial = candidate[:3], candidate[3:5], candidate[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def openai_key_valid(candidate: str) -> bool:
    body = candidate[3:]
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body)


def trim_url(candidate: str, before: str = "") -> int:
    """How much of ``candidate`` is the URL: not its trailing punctuation, and in a CSV field
    (``before`` is the field delimiter) not the fields after it."""
    end = len(candidate)
    if before and before in ",;\t|":
        cut = candidate.find(before)
        end = cut if cut >= 0 else end
    while end and candidate[end - 1] in ".,;:!?'\"*_~":
        end -= 1
    while (
        end
        and candidate[end - 1] == ")"
        and candidate.count("(", 0, end) < candidate.count(")", 0, end)
    ):
        end -= 1
    return end


EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9_%+-](?:[A-Za-z0-9._%+'-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
# A "+" starts a number on its own; other starts must not continue a number before them
# ("4111 0044 ..." is not a phone number inside a card number).
PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?)(?:[ .-]?[0-9]{1,5}){1,6}"
    r"|(?<!\d[ .-])(?:"
    r"\b00[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?)(?:[ .-]?[0-9]{1,5}){1,6}"
    r"|(?:\b1[ .-]?)?(?:\([0-9]{3}\)[ .-]?|\b[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}"
    r"|\b0[0-9]{1,4}(?:[ .-][0-9]{2,4}){2,4}"
    # National numbers with a trunk 0 and one long group: "030 12345678", "089/1234567".
    r"|\b0[0-9]{1,4}[ ./-][0-9]{5,8}"
    r"|\(0[0-9]{1,4}\)[ ]?[0-9]{3,5}[ .-]?[0-9]{3,4}"
    # Brazilian: 2-digit area code, then 4-4 or 5-4 digits with a dash.
    r"|(?:\([1-9][0-9]\)|\b[1-9][0-9])[ ]?9?[0-9]{4}-[0-9]{4}"
    r"))(?![0-9]|[ .-][0-9])"
)
# A phone number written as bare digits is told from an order number by a word before it.
PHONE_CONTEXT = re.compile(
    r"(?i:\b(?:phone|tel|telephone|mobile|mob|cell|cellphone|call|text|sms|whatsapp|fax"
    r"|telefon|handy|mobil|t[ée]l[ée]phone|portable|tel[ée]fono|celular|m[óo]vil|telefone"
    r"|contato|ligue)(?:\s+(?:number|no\.?|nr\.?|n[º°]|nummer|num[ée]ro|n[úu]mero))?"
    r"(?:\s+(?:me|us))?(?:\s+(?:at|on|under|unter))?\.?\s*[:#]?\s*)"
    r"(\+?[0-9]{10,12})(?![0-9]|[ .-][0-9])"
)
CREDIT_CARD = re.compile(r"(?<![\d-])(?<!\d )\d(?:(?:[ -]| {2})?\d){12,18}(?![\d-]|[ -]\d)")
IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}")
US_SSN_CONTEXT = re.compile(
    r"(?i:\b(?:ssn|ss\#|social\s+security(?:\s+(?:number|no\.?|\#))?)\s*[:#]?\s*)"
    r"([0-9]{9})(?![0-9]|[ .-][0-9])"
)
US_SSN = re.compile(
    r"(?<![\d-])(?<!\d )(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-]|[ -]\d)"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\d|\.\d)")
IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?:%[0-9A-Za-z]+)?(?![\w:]|\.\d)"
)
URL = re.compile(r"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>\"'`\[\]{}|\\^]+")
# Starts with a literal so the regex engine skips to each "A" (AWS ids may hold no digit).
A_KEYS = re.compile(
    r"A(?<!\wA)(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)[A-Z0-9]{16}\b"
    r"|A(?<!\wA)Iza[0-9A-Za-z_-]{35}(?![\w-])"
)
API_KEY = re.compile(
    r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{36,255}\b"
    r"|\bgithub_pat_[A-Za-z0-9_]{22,255}\b"
    r"|\bxox[abposr]-[A-Za-z0-9-]{15,250}"
    r"|\b[sr]k_(?:live|test)_[0-9A-Za-z]{16,247}\b"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|\bgl(?:pat|dt|rt|ptt|cbt|soat)-[A-Za-z0-9_-]{20,64}(?![\w-])"  # GitLab
    r"|\bhf_[A-Za-z0-9]{30,40}\b"  # Hugging Face
    r"|\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![\w-])"  # SendGrid
    r"|\bnpm_[A-Za-z0-9]{36}\b"  # npm
    r"|\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"  # PyPI
)
OPENAI_KEY = re.compile(r"(?<![\w-])sk-[A-Za-z0-9_-]{20,250}(?![\w-])")
AWS_SECRET = re.compile(
    r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)[\"']?\s*[:=]\s*[\"']?"
    r"([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
)
PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
    re.DOTALL,
)


NUMBER = re.compile(r"[0-9][0-9 ().+-]*")
TOKEN_TAIL = re.compile(r"[A-Za-z0-9_./+=-]*")
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./+=-")
KEY_TOKEN = 20
"""API keys are tokens of 20+ characters; they are looked for around the long tokens only."""


__all__ = [
    "API_KEY",
    "AWS_SECRET",
    "A_KEYS",
    "CREDIT_CARD",
    "EMAIL",
    "IBAN",
    "IBAN_LENGTHS",
    "IPV4",
    "IPV6",
    "KEY_TOKEN",
    "NUMBER",
    "OPENAI_KEY",
    "PHONE",
    "PHONE_CONTEXT",
    "PRIVATE_KEY",
    "TOKEN_CHARS",
    "TOKEN_TAIL",
    "URL",
    "US_SSN",
    "US_SSN_CONTEXT",
    "bare_phone_valid",
    "credit_card_valid",
    "iban_length",
    "iban_valid",
    "ipv6_valid",
    "luhn_valid",
    "openai_key_valid",
    "phone_valid",
    "ssn_valid",
    "trim_url",
]
