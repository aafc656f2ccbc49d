"""The names of the PII entities ``rails.config.sensitive_data_detection`` accepts, known at
config load time without importing any recognizer (the recognizers live in
:mod:`langchain_guardrails.rails`, which builds on the config)."""

from __future__ import annotations

BUILTIN_ENTITIES: tuple[str, ...] = (
    "PRIVATE_KEY",
    "API_KEY",
    "EMAIL_ADDRESS",
    "URL",
    "IBAN_CODE",
    "CREDIT_CARD",
    "US_SSN",
    "IP_ADDRESS",
    "PHONE_NUMBER",
)
"""Entity names the package recognizes without configuration, most specific first (the
built-in recognizers of :mod:`langchain_guardrails.rails.recognizers`, in the same order)."""

PRESIDIO_ENTITIES: tuple[str, ...] = (
    "PERSON",
    "LOCATION",
    "NRP",
    "DATE_TIME",
    "ORGANIZATION",
    "MEDICAL_LICENSE",
    "CRYPTO",
    "US_BANK_NUMBER",
    "US_DRIVER_LICENSE",
    "US_ITIN",
    "US_PASSPORT",
    "UK_NHS",
    "UK_NINO",
    "ES_NIF",
    "ES_NIE",
    "IT_FISCAL_CODE",
    "IT_DRIVER_LICENSE",
    "IT_VAT_CODE",
    "IT_PASSPORT",
    "IT_IDENTITY_CARD",
    "PL_PESEL",
    "SG_NRIC_FIN",
    "SG_UEN",
    "AU_ABN",
    "AU_ACN",
    "AU_TFN",
    "AU_MEDICARE",
    "IN_PAN",
    "IN_AADHAAR",
    "IN_VEHICLE_REGISTRATION",
    "IN_VOTER",
    "IN_PASSPORT",
    "FI_PERSONAL_IDENTITY_CODE",
    "KR_RRN",
    "TH_TNIN",
)
"""Entities only Presidio finds (``presidio`` extra)."""

__all__ = ["BUILTIN_ENTITIES", "PRESIDIO_ENTITIES"]
