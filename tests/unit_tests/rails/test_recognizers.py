"""Recognizers: positive and negative examples for every built-in entity, and user recognizers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_guardrails.rails.recognizers import (
    BUILTIN_ENTITIES,
    IBAN_LENGTHS,
    Found,
    Scanner,
    iban_valid,
    luhn_valid,
    non_overlapping,
    user_recognizers,
)

GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SLACK = "xoxb-123456789012-abcdefGHIJKL"
GOOGLE = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
OPENAI = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
RSA_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x\nQW8zvd+ab==\n"
    "-----END RSA PRIVATE KEY-----"
)

POSITIVES: dict[str, list[tuple[str, str]]] = {
    "EMAIL_ADDRESS": [
        ("Mail john.doe@example.com.", "Mail <EMAIL_ADDRESS>."),
        ("(jane_doe+news@mail.example.co.uk)", "(<EMAIL_ADDRESS>)"),
        ("<a@b.io>, 'c.d@e-f.org'", "<<EMAIL_ADDRESS>>, '<EMAIL_ADDRESS>'"),
        ("**x@y.dev**!", "**<EMAIL_ADDRESS>**!"),
        ("mailto:someone@example.com?subject=hi", "mailto:<EMAIL_ADDRESS>?subject=hi"),
        ('"a@b.com";"c@d.com"', '"<EMAIL_ADDRESS>";"<EMAIL_ADDRESS>"'),
        ("Email: O'Brien@Example.COM", "Email: <EMAIL_ADDRESS>"),
    ],
    "PHONE_NUMBER": [
        ("Call +44 20 7946 0958.", "Call <PHONE_NUMBER>."),
        ("+1 (415) 555-2671", "<PHONE_NUMBER>"),
        ("tel (415) 555-2671, or", "tel <PHONE_NUMBER>, or"),
        ("415-555-2671", "<PHONE_NUMBER>"),
        ("415.555.2671", "<PHONE_NUMBER>"),
        ("+33 6 12 34 56 78", "<PHONE_NUMBER>"),
        ("0044 20 7946 0958", "<PHONE_NUMBER>"),
        ("020 7946 0958", "<PHONE_NUMBER>"),
        ("+49 30 123456", "<PHONE_NUMBER>"),
        ("+8613800138000", "<PHONE_NUMBER>"),
    ],
    "CREDIT_CARD": [
        ("4111 1111 1111 1111", "<CREDIT_CARD>"),
        ("card: 4111-1111-1111-1111.", "card: <CREDIT_CARD>."),
        ("4111111111111111", "<CREDIT_CARD>"),
        ("5500 0000 0000 0004", "<CREDIT_CARD>"),
        ("Amex 3782 822463 10005", "Amex <CREDIT_CARD>"),
        ("6011000990139424", "<CREDIT_CARD>"),
        ("4222222222222", "<CREDIT_CARD>"),
    ],
    "IBAN_CODE": [
        ("DE89 3704 0044 0532 0130 00", "<IBAN_CODE>"),
        ("IBAN: DE89370400440532013000.", "IBAN: <IBAN_CODE>."),
        ("GB82 WEST 1234 5698 7654 32", "<IBAN_CODE>"),
        ("FR14 2004 1010 0505 0001 3M02 606", "<IBAN_CODE>"),
        ("NL91ABNA0417164300 ok", "<IBAN_CODE> ok"),
        ("DE89 3704 0044 0532 0130 00 AND MORE", "<IBAN_CODE> AND MORE"),
    ],
    "US_SSN": [
        ("SSN 536-22-8726", "SSN <US_SSN>"),
        ("536 22 8726.", "<US_SSN>."),
    ],
    "IP_ADDRESS": [
        ("host 192.168.0.1.", "host <IP_ADDRESS>."),
        ("10.0.0.255:8080", "<IP_ADDRESS>:8080"),
        ("[2001:db8::1]", "[<IP_ADDRESS>]"),
        ("fe80::1ff:fe23:4567:890a%eth0", "<IP_ADDRESS>"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "<IP_ADDRESS>"),
        ("::ffff:192.0.2.128", "<IP_ADDRESS>"),
    ],
    "URL": [
        ("See https://example.com/path?q=1.", "See <URL>."),
        ("Visit www.example.org, then", "Visit <URL>, then"),
        ("(see http://x.io/a_(b))", "(see <URL>)"),
        ("ftp://files.example.com/f.txt", "<URL>"),
        ("HTTPS://EXAMPLE.COM", "<URL>"),
    ],
    "API_KEY": [
        ("AKIAIOSFODNN7EXAMPLE", "<API_KEY>"),
        (f"token={GITHUB}", "token=<API_KEY>"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "<API_KEY>"),
        (f'OPENAI_API_KEY="{OPENAI}"', 'OPENAI_API_KEY="<API_KEY>"'),
        (SLACK, "<API_KEY>"),
        (GOOGLE, "<API_KEY>"),
        (STRIPE, "<API_KEY>"),
        (f"Bearer {JWT}", "Bearer <API_KEY>"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = <API_KEY>",
        ),
        (
            f"```bash\nexport OPENAI_API_KEY={OPENAI}\nexport GH={GITHUB}\n```",
            "```bash\nexport OPENAI_API_KEY=<API_KEY>\nexport GH=<API_KEY>\n```",
        ),
    ],
    "PRIVATE_KEY": [
        (f"```\n{RSA_KEY}\n```", "```\n<PRIVATE_KEY>\n```"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\n-----END OPENSSH PRIVATE KEY-----",
            "<PRIVATE_KEY>",
        ),
        ("key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN", "key: <PRIVATE_KEY>"),
    ],
}

NEGATIVES: dict[str, list[str]] = {
    "EMAIL_ADDRESS": ["user@localhost", "@handle", "a@b", "name at example dot com", "x@y.c"],
    "PHONE_NUMBER": [
        "2023-01-15",
        "v1.2.3",
        "12:30:45",
        "call 555-1234",
        "order 4155552671",
        "1,000,000",
        "3.14159",
        "+1 2",
    ],
    "CREDIT_CARD": [
        "4111 1111 1111 1112",  # Luhn fails
        "1234 5678 9012 3456",  # no card network starts with 1
        "4111 11 1111 1111 11",  # not a card grouping
        "41111111111111111",  # 17 digits
        "4111 1111",
    ],
    "IBAN_CODE": [
        "DE89 3704 0044 0532 0130 01",  # checksum fails
        "GB82 WEST 1234 5698 7654 33",
        "XX12 3456 7890 1234 56",  # no such country
        "DE89 3704 0044",  # too short
        "DE893704004405320130001",  # too long for DE, no break
    ],
    "US_SSN": [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "536-00-8726",
        "536-22-0000",
        "536-22-87261",
        "536228726",
    ],
    "IP_ADDRESS": [
        "256.1.1.1",
        "1.2.3",
        "12:30:45",
        "std::vector",
        "1.2.3.4.5",
        "00:1A:2B:3C:4D:5E",
    ],
    "URL": ["example.com", "http:/broken", "the www is wide", "https://"],
    "API_KEY": [
        "sk-learn",
        "risk-management-framework-document-v2",
        "AKIA123",
        "ghp_short",
        "task-force-alpha-bravo-charlie-delta",
        "aws_secret_access_key = short",
    ],
    "PRIVATE_KEY": [
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
        "BEGIN CERTIFICATE",
    ],
}


@pytest.mark.parametrize(
    ("entity", "text", "masked"),
    [(entity, text, masked) for entity, cases in POSITIVES.items() for text, masked in cases],
)
def test_each_entity_is_found_and_masked(entity: str, text: str, masked: str) -> None:
    scanner = Scanner.for_entities([entity])
    assert scanner.mask(text, "<{entity}>") == (masked, [entity])


@pytest.mark.parametrize(
    ("entity", "text"),
    [(entity, text) for entity, cases in NEGATIVES.items() for text in cases],
)
def test_lookalikes_are_not_found(entity: str, text: str) -> None:
    assert Scanner.for_entities([entity]).find(text) == []


@pytest.mark.parametrize(
    "text", [text for cases in NEGATIVES.values() for text in cases if "PRIVATE" not in text]
)
def test_no_lookalike_is_taken_for_another_entity(text: str) -> None:
    found = Scanner.for_entities(BUILTIN_ENTITIES).find(text)
    allowed = {"256.1.1.1": [], "a@b": []}
    assert found == allowed.get(text, []), found


def test_all_entities_together_resolve_overlaps_by_position_length_and_priority() -> None:
    scanner = Scanner.for_entities(BUILTIN_ENTITIES)
    text = (
        "Mail john@example.com or https://user@example.com/x, SSN 536-22-8726, "
        "card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, ip ::ffff:192.0.2.128."
    )
    masked, entities = scanner.mask(text, "[{entity}]")
    assert masked == (
        "Mail [EMAIL_ADDRESS] or [URL], SSN [US_SSN], card [CREDIT_CARD], IBAN [IBAN_CODE], "
        "ip [IP_ADDRESS]."
    )
    assert entities == ["EMAIL_ADDRESS", "URL", "US_SSN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS"]


def test_masking_never_changes_text_outside_the_matches() -> None:
    text = "  Ünïcödé  text\twith\r\nodd   spacing, a@b.co\u200b and more  "
    masked, _ = Scanner.for_entities(BUILTIN_ENTITIES).mask(text, "*")
    assert masked == "  Ünïcödé  text\twith\r\nodd   spacing, *\u200b and more  "


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("0", True)],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("DE89370400440532013000", True),
        ("GB82WEST12345698765432", True),
        ("NO9386011117947", True),
        ("DE89370400440532013001", False),
        ("DE8937040044053201300", False),  # one short
        ("ZZ89370400440532013000", False),
    ],
)
def test_iban_checksum_and_length(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid
    assert len(IBAN_LENGTHS) > 80


def test_user_recognizers_patterns_and_deny_list() -> None:
    extra = user_recognizers("EMPLOYEE_ID", [r"EMP-\d{6}"], ["Project Falcon", "falcon-x"])
    scanner = Scanner.for_entities(["EMPLOYEE_ID", "EMAIL_ADDRESS"], extra)
    masked, entities = scanner.mask(
        "emp-123456 (a@b.co) works on project falcon and Falcon-X, not falconry.", "#"
    )
    assert masked == "# (#) works on # and #, not falconry."
    assert entities == ["EMPLOYEE_ID", "EMAIL_ADDRESS"]


# -- the landmark shortcut finds exactly what a whole-text scan finds --------------------------

DIGITLESS_KEYS = [
    "ghp_" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
    "sk_live_" + "abcdefghijklmnopqrstuvwx",
    "xoxb-" + "abcdefghijklmnopqrstuvwxyz",
    "AKIAABCDEFGHIJKLMNOP",
    "AIza" + "SyAbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfG",
    "AWS_SECRET_ACCESS_KEY=" + "wJalrXUtnFEMIKMDENGbPxRfiCYEXAMPLEKEYabc",
]
FRAGMENTS = [
    *(text for cases in POSITIVES.values() for text, _ in cases),
    *(text for cases in NEGATIVES.values() for text in cases),
    *DIGITLESS_KEYS,
    " ", " ", " ", ", ", ".", "\n", "(", ")", "-", "_", ":", "::", "@", "+", "/", "'", '"',
    "12", "2023", "7", "00", "the", "word", "A", "DE", "x", "www.", "https://", "mail",
]  # fmt: skip


def whole_text_find(scanner: Scanner, text: str) -> list[Found]:
    """What the scanner's regexes find when each scans the whole text."""
    found = []
    for recognizer in scanner.recognizers:
        rank = (
            0
            if recognizer.entity not in BUILTIN_ENTITIES
            else BUILTIN_ENTITIES.index(recognizer.entity) + 1
        )
        for match in recognizer.regex.finditer(text):
            start, stop = match.span(recognizer.group)
            if recognizer.trim is not None:
                stop = start + recognizer.trim(text[start:stop])
                if stop == start:
                    continue
            if recognizer.valid is not None and not recognizer.valid(text[start:stop]):
                continue
            found.append(Found(start, stop, recognizer.entity, rank))
    return non_overlapping(found)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=24).map("".join))
def test_landmarks_only_skip_text_where_no_value_can_be(text: str) -> None:
    scanner = Scanner.for_entities(BUILTIN_ENTITIES)
    assert scanner.find(text) == whole_text_find(scanner, text)


@pytest.mark.parametrize("key", DIGITLESS_KEYS)
def test_keys_without_digits_are_found(key: str) -> None:
    masked, entities = Scanner.for_entities(["API_KEY"]).mask(f"key: {key} end", "<K>")
    assert entities == ["API_KEY"]
    assert masked in ("key: <K> end", "key: AWS_SECRET_ACCESS_KEY=<K> end")
