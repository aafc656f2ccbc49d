"""The real-world formats of issue 16 item 4: national phone numbers, context-named SSNs,
oddly spaced cards, developer-platform tokens and URLs in CSV rows; and the hard negatives
that must stay untouched."""

from __future__ import annotations

import pytest

from langchain_guardrails.rails.recognizers import BUILTIN_ENTITIES, Scanner

SG = "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"
AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

FOUND = [
    # phone numbers: national formats and unusual grouping
    ("Telefon: 030 12345678", "PHONE_NUMBER", "030 12345678"),
    ("Rufen Sie 089/1234567 an.", "PHONE_NUMBER", "089/1234567"),
    ("Handy: 0151-23456789", "PHONE_NUMBER", "0151-23456789"),
    ("My mobile is 07700 900123.", "PHONE_NUMBER", "07700 900123"),
    ("tel: (020) 7946 0555", "PHONE_NUMBER", "(020) 7946 0555"),
    ("Call our Sydney team on (02) 9374 4000.", "PHONE_NUMBER", "(02) 9374 4000"),
    ("Meu celular é (11) 91234-5678.", "PHONE_NUMBER", "(11) 91234-5678"),
    ("Telefone: 11 3456-7890", "PHONE_NUMBER", "11 3456-7890"),
    ("Our toll-free line is 1-800-555-0199.", "PHONE_NUMBER", "1-800-555-0199"),
    ("Text 1 (800) 555-0175 for help", "PHONE_NUMBER", "1 (800) 555-0175"),
    ("cell: 4155550132", "PHONE_NUMBER", "4155550132"),
    ("text me at 4155550143", "PHONE_NUMBER", "4155550143"),
    ("mob 07700900461", "PHONE_NUMBER", "07700900461"),
    ("Bel 020-1234567 nu", "PHONE_NUMBER", "020-1234567"),
    # SSNs without separators, named by a context word
    ("SSN: 078051121", "US_SSN", "078051121"),
    ("Please verify SSN 536228172 now.", "US_SSN", "536228172"),
    ("social security number 432110987", "US_SSN", "432110987"),
    # cards with irregular spacing (Luhn-checked)
    ("cc 4111  1111 1111 1111 ok", "CREDIT_CARD", "4111  1111 1111 1111"),
    ("Charge 5105 1051 05105100 please", "CREDIT_CARD", "5105 1051 05105100"),
    ("card: 41111111 11111111", "CREDIT_CARD", "41111111 11111111"),
    # developer-platform tokens
    ("export GITLAB_TOKEN=glpat-xY3kP9sQ2mN7vB4rT8wZ", "API_KEY", "glpat-xY3kP9sQ2mN7vB4rT8wZ"),
    (
        "HF_TOKEN=hf_aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH",
        "API_KEY",
        "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH",
    ),
    (f"SENDGRID_API_KEY='{SG}'", "API_KEY", SG),
    (
        "npm_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7aC0dF3gJ6",
        "API_KEY",
        "npm_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7aC0dF3gJ6",
    ),
    (f'{{"SecretAccessKey": "{AWS}"}}', "API_KEY", AWS),
    (f"secretAccessKey: '{AWS}'", "API_KEY", AWS),
    (f"aws_secret_key: {AWS}", "API_KEY", AWS),
    # URLs end at the CSV delimiter
    ("17,Ana,https://ana.example.com/blog,ana@example.com", "URL", "https://ana.example.com/blog"),
    ("bob;http://bob.example.net/;+44 20 7946 0111", "URL", "http://bob.example.net/"),
    ("3\twww.example.com/start\tactive", "URL", "www.example.com/start"),
]


@pytest.mark.parametrize(("text", "entity", "value"), FOUND)
def test_real_world_formats_are_found_with_exact_spans(text: str, entity: str, value: str) -> None:
    found = Scanner.for_entities(BUILTIN_ENTITIES).find(text)
    start = text.index(value)
    assert (start, start + len(value), entity) in [(f.start, f.end, f.entity) for f in found]


def test_csv_row_keeps_its_other_fields() -> None:
    text = "17,Ana,https://ana.example.com/blog,ana@example.com"
    masked, entities = Scanner.for_entities(BUILTIN_ENTITIES).mask(text, "<{entity}>")
    assert masked == "17,Ana,<URL>,<EMAIL_ADDRESS>"
    assert entities == ["URL", "EMAIL_ADDRESS"]


def test_commas_inside_a_url_in_prose_stay_in_the_url() -> None:
    text = "see https://maps.example.com/@40.7,-74.0,12z for the map"
    masked, _ = Scanner.for_entities(["URL"]).mask(text, "<{entity}>")
    assert masked == "see <URL> for the map"


HARD_NEGATIVES = [
    "Order number 4111111111111112 shipped today.",
    "Your order #123456789 has been dispatched.",
    "order 4155552671",
    "Bestellnummer 400123456 wurde versandt.",
    "Pedido nº 20240315001 confirmado.",
    "Upgrade to version 2.10.3 or 10.4.1-beta.",
    "Released v1.2.3.4 of the firmware last week.",
    "Meeting on 2024-03-15 at 10:30:00.",
    "Das Treffen ist am 15.03.2024 um 14:00 Uhr.",
    "Termin 01.02.2024",
    "ZIP 94103-1234 and PLZ 10115.",
    "Customer id 100200300400 registered.",
    "Ticket 2024031512345 was closed.",
    "The SKU 5012345678900 is out of stock.",
    "Account balance is 12 345 678 yen.",
    "4111 11 1111 1111 11",
    "Set GITLAB_TOKEN to your personal token.",
    "The hf_hub_download function fetches files.",
    "python -m pip install SG.utils==1.2.0",
    "Use the key name aws_secret_access_key in your config file.",
    "SSN field: 123",
    "call 555-1234",
    "UUID 123e4567-e89b-12d3-a456-426614174000 in the log.",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_find_nothing(text: str) -> None:
    assert Scanner.for_entities(BUILTIN_ENTITIES).find(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "SSN 000123456",  # never-issued area
        "SSN 666123456",
        "SSN 900123456",
        "SSN 123001234",  # group 00
        "SSN 123450000",  # serial 0000
        "SSN 1234567890",  # ten digits
        "phone 1234567890",  # North American area codes never start with 1
        "phone 4151550132",  # nor exchanges
    ],
)
def test_context_numbers_are_still_validated(text: str) -> None:
    assert Scanner.for_entities(["US_SSN", "PHONE_NUMBER"]).find(text) == []
