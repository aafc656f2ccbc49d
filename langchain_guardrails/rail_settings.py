"""``rails.config``: the settings of the built-in rails, one section per rail family."""

from __future__ import annotations

import re

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ._strict import Strict


class RegexPatterns(Strict):
    """Patterns for one stage of ``regex_detection``."""

    patterns: list[str] = Field(default_factory=list)
    """Python regular expressions; a match blocks."""
    case_sensitive: bool = False
    """Match case-sensitively (default: ignore case)."""

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns


class RegexDetection(Strict):
    """``rails.config.regex_detection``: patterns for ``regex check input|output``."""

    input: RegexPatterns = Field(default_factory=RegexPatterns)
    output: RegexPatterns = Field(default_factory=RegexPatterns)


class RecognizerPattern(Strict):
    """One pattern of a user recognizer (Presidio / NeMo format)."""

    regex: str
    """Python regular expression (matched with IGNORECASE, DOTALL and MULTILINE, as Presidio)."""
    name: str | None = None
    """Label for the pattern; informational."""
    score: float | None = None
    """Accepted for NeMo compatibility; recognizers here are deterministic, not scored."""

    @field_validator("regex")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return pattern


class Recognizer(Strict):
    """``sensitive_data_detection.recognizers[]``: a user entity found by regexes or a deny list."""

    supported_entity: str = Field(min_length=1)
    """The entity name to use in ``entities`` lists, e.g. ``EMPLOYEE_ID``."""
    patterns: list[RecognizerPattern] = Field(default_factory=list)
    """Regexes that find the entity."""
    deny_list: list[str] = Field(default_factory=list)
    """Exact words or phrases that are the entity (matched case-insensitively as whole words)."""
    name: str | None = None
    """Label for the recognizer; informational."""
    supported_language: str | None = None
    """Accepted for NeMo compatibility; patterns apply to any language."""
    context: list[str] | None = None
    """Accepted for NeMo compatibility; context words do not change matching here."""

    @model_validator(mode="after")
    def _finds_something(self) -> Recognizer:
        if not self.patterns and not self.deny_list:
            raise ValueError(
                f"recognizer for {self.supported_entity!r} needs patterns or a deny_list"
            )
        return self


class SensitiveDataOptions(Strict):
    """What one stage of ``sensitive_data_detection`` looks for and how it masks."""

    entities: list[str] = Field(default_factory=list)
    """Entity names (built-in ones such as ``EMAIL_ADDRESS``, or a recognizer's entity)."""
    mask_token: str = "<{entity}>"
    """Replacement for each masked value; ``{entity}`` becomes the entity name."""
    score_threshold: float | None = None
    """Accepted for NeMo compatibility; recognizers here are deterministic, not scored."""


class SensitiveDataDetection(Strict):
    """``rails.config.sensitive_data_detection``: settings of the sensitive-data rails."""

    recognizers: list[Recognizer] = Field(default_factory=list)
    """Extra entities found by user regexes or deny lists."""
    input: SensitiveDataOptions = Field(default_factory=SensitiveDataOptions)
    output: SensitiveDataOptions = Field(default_factory=SensitiveDataOptions)

    @field_validator("input", "output")
    @classmethod
    def _known_entities(
        cls, options: SensitiveDataOptions, info: ValidationInfo
    ) -> SensitiveDataOptions:
        from .rails.recognizers import BUILTIN_ENTITIES

        recognizers = info.data.get("recognizers", [])
        known = [*BUILTIN_ENTITIES, *(r.supported_entity for r in recognizers)]
        for entity in options.entities:
            if entity not in known:
                raise ValueError(
                    f"unknown entity {entity!r}; known entities: {', '.join(dict.fromkeys(known))}"
                )
        return options


class JailbreakDetection(Strict):
    """``rails.config.jailbreak_detection``: the perplexity heuristics (``hf`` extra)."""

    model_path: str | None = None
    """Local folder of a transformers causal LM (e.g. ``gpt2-large`` saved with
    ``save_pretrained``); relative paths start at the config folder. Nothing is downloaded."""
    device: str = "cpu"
    """Torch device for the model."""
    length_per_perplexity_threshold: float = Field(default=89.79, gt=0)
    """Block when ``len(text) / perplexity(text)`` reaches this value."""
    prefix_suffix_perplexity_threshold: float = Field(default=1845.65, gt=0)
    """Block when the perplexity of the first or last 19 words reaches this value."""


class ClassifierSettings(Strict):
    """One entry of ``rails.config.classifiers``, for ``hf classifier check ...
    $classifier=<name>``."""

    model_path: str
    """Local folder of a transformers text-classification model; relative paths start at the
    config folder. Nothing is downloaded."""
    block_labels: list[str] = Field(min_length=1)
    """Labels (as in the model's ``id2label``) that block when their score reaches ``threshold``."""
    threshold: float = Field(default=0.5, ge=0, le=1)
    """Minimum score of a blocking label to block."""
    device: str = "cpu"
    """Torch device for the model."""
    max_chars: int = Field(default=1000, ge=1)
    """Texts longer than this are classified in pieces (one batch per window), so nothing is
    lost to the model's truncation."""
    batch_size: int = Field(default=16, ge=1)
    """Most pieces per model call; concurrent streams share calls up to this size."""


class RailSettings(Strict):
    """``rails.config``: per-rail settings."""

    regex_detection: RegexDetection = Field(default_factory=RegexDetection)
    """Settings of the regex rails."""
    sensitive_data_detection: SensitiveDataDetection = Field(default_factory=SensitiveDataDetection)
    """Settings of the ``detect`` / ``mask sensitive data`` rails."""
    jailbreak_detection: JailbreakDetection = Field(default_factory=JailbreakDetection)
    """Settings of ``jailbreak detection heuristics``."""
    classifiers: dict[str, ClassifierSettings] = Field(default_factory=dict)
    """Text classifiers by name, for ``hf classifier check input|output $classifier=<name>``."""
