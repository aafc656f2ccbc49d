"""Sensitive-data rails: ``detect sensitive data on input|output`` (block) and
``mask sensitive data on input|output`` (rewrite), from
``rails.config.sensitive_data_detection``.

No LLM call: recognizers are regexes with validators (see
:mod:`~langchain_guardrails.rails.recognizers`), a few microseconds per window. Violations name
the entity types found, never the values. Masking output needs hold-back mode
(``stream_first: false``): a value is masked before any of it is released, also when the model
splits it across chunks, as long as it fits in ``context_size + 1`` units.

User patterns (``recognizers``) run with the :mod:`regex` package's timeout set to the rail's
own timeout (the flow's ``timeout:``, else ``rails.timeout``): a pattern that backtracks
catastrophically makes the rail fail closed instead of holding the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from langchain_guardrails.config.actions import ActionSpec, RailResult, apply_spans, build_spec
from langchain_guardrails.config.rail_settings import SensitiveDataDetection
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.rails.recognizers import BUILTIN_ENTITIES, Scanner, user_recognizers

Stage = Literal["input", "output"]
Factory = Callable[[RailsConfig, Mapping[str, str]], ActionSpec]

_ALLOW = RailResult(allowed=True)


def scanner_for(
    settings: SensitiveDataDetection, stage: Stage, rail: str, base_dir: str | None = None
) -> Scanner:
    """The scanner of one stage's entities (built-in and user recognizers; Presidio for the
    entities only it finds, see :mod:`~langchain_guardrails.rails.presidio`)."""
    entities = getattr(settings, stage).entities
    if not entities:
        known = ", ".join([*BUILTIN_ENTITIES, *(r.supported_entity for r in settings.recognizers)])
        raise ConfigError(
            f"{rail!r} needs entities in rails.config.sensitive_data_detection.{stage}.entities "
            f"(known entities: {known})"
        )
    extra = [
        recognizer
        for item in settings.recognizers
        for recognizer in user_recognizers(
            item.supported_entity, [p.regex for p in item.patterns], item.deny_list
        )
    ]
    scanner = Scanner.for_entities(entities, extra)
    own = {*BUILTIN_ENTITIES, *(r.supported_entity for r in settings.recognizers)}
    others = [e for e in dict.fromkeys(entities) if e not in own]
    if not others:
        return scanner
    from langchain_guardrails.rails.presidio import (
        DEFAULT_SCORE_THRESHOLD,
        PresidioScanner,
        analyzer_for,
    )

    analyzer = analyzer_for(settings.nlp_engine, base_dir, rail, settings.language)
    threshold = getattr(settings, stage).score_threshold
    return PresidioScanner(
        scanner.recognizers,
        analyzer,
        others,
        settings.language,
        DEFAULT_SCORE_THRESHOLD if threshold is None else threshold,
    )


def _inline(scanner: Scanner) -> bool:
    # Presidio's NER costs milliseconds per window: it runs in a worker thread.
    from langchain_guardrails.rails.presidio import PresidioScanner

    return not isinstance(scanner, PresidioScanner)


def detect_sensitive_data(stage: Stage) -> Factory:
    """Factory of ``detect sensitive data on <stage>``: blocks text holding any entity."""
    rail = f"detect sensitive data on {stage}"

    def factory(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
        _no_params(rail, params)
        scanner = scanner_for(
            config.rails.config.sensitive_data_detection, stage, rail, config.config_path
        )

        def detect(text: str, timeout: float) -> RailResult:
            found = scanner.find(text, timeout)
            if not found:
                return _ALLOW
            entities = list(dict.fromkeys(f.entity for f in found))
            return RailResult(
                allowed=False,
                reason=f"sensitive data found: {', '.join(entities)}",
                metadata={"entities": entities},
            )

        return build_spec(detect, name=rail, inline=_inline(scanner))

    return factory


def mask_sensitive_data(stage: Stage) -> Factory:
    """Factory of ``mask sensitive data on <stage>``: replaces each value by ``mask_token``."""
    rail = f"mask sensitive data on {stage}"

    def factory(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
        _no_params(rail, params)
        settings = config.rails.config.sensitive_data_detection
        scanner = scanner_for(settings, stage, rail, config.config_path)
        token = getattr(settings, stage).mask_token

        def mask(text: str, timeout: float) -> RailResult:
            found = scanner.find(text, timeout)
            if not found:
                return _ALLOW
            # The spans let a stream release everything before the last value, not the first.
            spans = [(f.start, f.end, token.replace("{entity}", f.entity)) for f in found]
            masked = apply_spans(text, spans)
            return _ALLOW if masked == text else RailResult(True, text=masked, spans=spans)

        return build_spec(mask, name=rail, rewrites=True, inline=_inline(scanner))

    return factory


def _no_params(rail: str, params: Mapping[str, str]) -> None:
    if params:
        raise ConfigError(
            f"{rail!r} takes no $ parameters (got ${next(iter(params))}); configure it in "
            "rails.config.sensitive_data_detection"
        )


__all__ = ["detect_sensitive_data", "mask_sensitive_data", "scanner_for"]
