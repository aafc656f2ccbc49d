"""Optional Presidio backend of the sensitive-data rails (``presidio`` extra).

Entities the fast built-in recognizers cover (``EMAIL_ADDRESS``, ``CREDIT_CARD``, ...) stay
with them; the others (``PERSON``, ``LOCATION``, ``NRP``, ``US_DRIVER_LICENSE``, ...) are found
by Presidio's analyzer, whose named-entity recognition runs on the user's own NLP model:

.. code-block:: yaml

    rails:
      config:
        sensitive_data_detection:
          nlp_engine:                      # Presidio's NlpEngineProvider configuration
            nlp_engine_name: spacy
            models: [{lang_code: en, model_name: en_core_web_lg}]   # or ./my_spacy_model
          output: {entities: [PERSON, EMAIL_ADDRESS]}

Model names starting with ``./`` or ``../`` are folders relative to the config folder. A model
that is neither an installed package nor a folder is a config error: nothing is downloaded.
The analyzer is built once per NLP configuration and shared (Presidio's analyzer and spaCy
pipelines are read-only at analysis time); analysis runs in a worker thread, never on the
event loop.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_guardrails.config.pii_entities import PRESIDIO_ENTITIES
from langchain_guardrails.errors import ConfigError, MissingExtraError, require
from langchain_guardrails.rails.recognizers import EntityRecognizer, Found, Scanner, non_overlapping

"""Entities found through Presidio (its predefined recognizers and NER)."""

DEFAULT_NLP_ENGINE: dict[str, Any] = {
    "nlp_engine_name": "spacy",
    "models": [{"lang_code": "en", "model_name": "en_core_web_lg"}],
}
"""Presidio's own default, used when ``nlp_engine`` is not set (the model must be installed)."""

DEFAULT_SCORE_THRESHOLD = 0.2
"""NeMo Guardrails' default ``score_threshold``."""

_ANALYZERS: dict[str, Any] = {}
_LOCK = threading.Lock()


def _resolve_models(conf: Mapping[str, Any], base_dir: str | None, rail: str) -> dict[str, Any]:
    """A copy of ``conf`` with relative model folders made absolute, every model checked."""
    models = []
    for index, model in enumerate(conf.get("models") or ()):
        entry = dict(model)
        name = str(entry.get("model_name", ""))
        if name.startswith(("./", "../")) and base_dir:
            name = str((Path(base_dir) / name).resolve())
            entry["model_name"] = name
        if conf.get("nlp_engine_name", "spacy") == "spacy" and not _spacy_model_available(name):
            raise ConfigError(
                f"{rail!r}: rails.config.sensitive_data_detection.nlp_engine.models[{index}]: "
                f"spaCy model {name!r} is neither an installed package nor a folder; install "
                "it (e.g. `python -m spacy download en_core_web_lg`) or point model_name at a "
                "saved pipeline (nothing is downloaded at run time)"
            )
        models.append(entry)
    return {**conf, "models": models}


def _spacy_model_available(name: str) -> bool:
    if not name:
        return False
    if Path(name).exists():
        return True
    spacy = require("spacy", "presidio")
    return bool(spacy.util.is_package(name))


def analyzer_for(
    nlp_engine: Mapping[str, Any] | None, base_dir: str | None, rail: str, language: str
) -> Any:
    """The shared Presidio ``AnalyzerEngine`` of one NLP configuration (built on first use)."""
    try:
        require("presidio_analyzer", "presidio")
    except MissingExtraError as exc:
        raise MissingExtraError("presidio-analyzer", "presidio") from exc
    conf = _resolve_models(nlp_engine or DEFAULT_NLP_ENGINE, base_dir, rail)
    key = json.dumps(conf, sort_keys=True, default=str) + "|" + language
    with _LOCK:
        analyzer = _ANALYZERS.get(key)
        if analyzer is None:
            analyzer = _ANALYZERS[key] = _build_analyzer(conf, language)
    return analyzer


def _build_analyzer(conf: Mapping[str, Any], language: str) -> Any:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    engine = NlpEngineProvider(nlp_configuration=dict(conf)).create_engine()
    registry = RecognizerRegistry(supported_languages=[language])
    # Presidio warns once per recognizer of another language it skips: noise, not news.
    presidio_log = logging.getLogger("presidio-analyzer")
    level = presidio_log.level
    presidio_log.setLevel(logging.ERROR)
    try:
        registry.load_predefined_recognizers(languages=[language], nlp_engine=engine)
    finally:
        presidio_log.setLevel(level)
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=[language])


class PresidioScanner(Scanner):
    """A :class:`Scanner` that adds Presidio's findings for ``presidio_entities``.

    Example:
        .. code-block:: python

            scanner = PresidioScanner(recognizers, analyzer, ["PERSON"], "en", 0.2)
            scanner.mask("Alice Smith called", "<{entity}>")  # ("<PERSON> called", ["PERSON"])
    """

    __slots__ = ("analyzer", "language", "presidio_entities", "threshold")

    def __init__(
        self,
        recognizers: Sequence[EntityRecognizer],
        analyzer: Any,
        presidio_entities: Sequence[str],
        language: str,
        threshold: float,
    ) -> None:
        super().__init__(recognizers)
        self.analyzer = analyzer
        self.presidio_entities = list(presidio_entities)
        self.language = language
        self.threshold = threshold

    def find(self, text: str, timeout: float | None = None) -> list[Found]:
        """Built-in matches and Presidio's, without overlaps (the earlier, then longer wins)."""
        found = super().find(text, timeout) if self.recognizers else []
        if text.strip():
            # spaCy's tokenizer takes exact `str` (message .text is a str subclass).
            results = self.analyzer.analyze(
                text=str(text),
                language=self.language,
                entities=self.presidio_entities,
                score_threshold=self.threshold,
            )
            found.extend(Found(r.start, r.end, r.entity_type, 100) for r in results)
        return non_overlapping(found)


__all__ = [
    "DEFAULT_NLP_ENGINE",
    "DEFAULT_SCORE_THRESHOLD",
    "PRESIDIO_ENTITIES",
    "PresidioScanner",
    "analyzer_for",
]
