"""``PERSON``, ``LOCATION`` and other Presidio entities through the optional Presidio backend,
with an offline spaCy pipeline (``spacy.blank("en")`` plus an ``EntityRuler``)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from langchain_guardrails import ConfigError, Guardrails, MissingExtraError, RailsConfig
from langchain_guardrails.rails.presidio import PRESIDIO_ENTITIES, PresidioScanner
from langchain_guardrails.rails.recognizers import Scanner
from langchain_guardrails.rails.sensitive_data import scanner_for
from langchain_guardrails.testing import FakeOpenAIServer

from .conftest import REFUSAL

pytestmark = [pytest.mark.requires("presidio_analyzer"), pytest.mark.requires("spacy")]

ANSWER = ["Alice ", "Smith ", "lives ", "in ", "Paris; ", "mail ", "alice@example.com", " now."]


@pytest.fixture(scope="module")
def spacy_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipeline that knows two names: no pretrained weights, nothing downloaded."""
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [{"label": "PERSON", "pattern": "Alice Smith"}, {"label": "GPE", "pattern": "Paris"}]
    )
    folder = tmp_path_factory.mktemp("spacy") / "model"
    nlp.to_disk(folder)
    return folder


@pytest.fixture
def presidio_folder(corpus: Callable[[str], Path], spacy_model: Path) -> Path:
    folder = corpus("presidio")
    shutil.copytree(spacy_model, folder / "spacy_model")
    return folder


async def test_person_and_location_are_masked_while_streaming(
    server: FakeOpenAIServer, presidio_folder: Path
) -> None:
    server.replies = {"main-model": ANSWER}
    guarded = Guardrails(config=RailsConfig.from_path(presidio_folder))
    text = "".join([c.text async for c in guarded.astream("Where does she live?")])
    assert text == "<PERSON> lives in <LOCATION>; mail <EMAIL_ADDRESS> now."


async def test_a_person_in_the_input_blocks(
    server: FakeOpenAIServer, presidio_folder: Path
) -> None:
    server.replies = {"main-model": ANSWER}
    guarded = Guardrails(config=RailsConfig.from_path(presidio_folder))
    result = await guarded.ainvoke("Please write to Alice Smith")
    assert result.content == REFUSAL
    meta = result.response_metadata["guardrails"]
    assert (meta["rail"], meta["reason"], meta["entities"]) == (
        "detect sensitive data on input",
        "sensitive data found: PERSON",
        ["PERSON"],
    )
    assert server.chat_requests() == []


def test_built_in_entities_stay_with_the_fast_recognizers() -> None:
    config = RailsConfig.from_content(
        yaml_content="rails: {config: {sensitive_data_detection: "
        "{output: {entities: [EMAIL_ADDRESS, CREDIT_CARD]}}}}"
    )
    scanner = scanner_for(config.rails.config.sensitive_data_detection, "output", "r")
    assert type(scanner) is Scanner  # no Presidio, no NLP model needed


def test_a_presidio_entity_needs_an_available_nlp_model(presidio_folder: Path) -> None:
    shutil.rmtree(presidio_folder / "spacy_model")
    with pytest.raises(ConfigError) as error:
        Guardrails(config=RailsConfig.from_path(presidio_folder))
    assert str(error.value) == (
        "'detect sensitive data on input': rails.config.sensitive_data_detection.nlp_engine."
        f"models[0]: spaCy model {str((presidio_folder / 'spacy_model').resolve())!r} is "
        "neither an installed package nor a folder; install it (e.g. `python -m spacy download "
        "en_core_web_lg`) or point model_name at a saved pipeline (nothing is downloaded at "
        "run time)"
    )


def test_without_the_extra_the_error_names_it(
    presidio_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "presidio_analyzer", None)  # import fails
    with pytest.raises(MissingExtraError) as error:
        Guardrails(config=RailsConfig.from_path(presidio_folder))
    assert str(error.value) == (
        "presidio-analyzer is not installed; install it with "
        "`pip install 'langchain-stream-guardrails[presidio]'`"
    )


def test_presidio_entities_are_known_to_the_config() -> None:
    with pytest.raises(ConfigError) as error:
        RailsConfig.from_content(
            yaml_content="rails: {config: {sensitive_data_detection: {input: {entities: [PERSN]}}}}"
        )
    assert str(error.value) == (
        "<yaml_content>:1: rails.config.sensitive_data_detection.input: unknown entity "
        "'PERSN'; known entities: PRIVATE_KEY, API_KEY, EMAIL_ADDRESS, URL, IBAN_CODE, "
        "CREDIT_CARD, US_SSN, IP_ADDRESS, PHONE_NUMBER; with the presidio extra: "
        + ", ".join(PRESIDIO_ENTITIES)
    )
    assert {"PERSON", "LOCATION", "NRP"} <= set(PRESIDIO_ENTITIES)


def test_the_presidio_scanner_runs_off_the_event_loop(presidio_folder: Path) -> None:
    config = RailsConfig.from_path(presidio_folder)
    scanner = scanner_for(
        config.rails.config.sensitive_data_detection, "output", "r", str(presidio_folder)
    )
    assert isinstance(scanner, PresidioScanner)
    assert scanner.mask("Alice Smith wrote from Paris", "[{entity}]") == (
        "[PERSON] wrote from [LOCATION]",
        ["PERSON", "LOCATION"],
    )
