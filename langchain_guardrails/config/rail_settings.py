"""``rails.config``: the settings of the built-in rails, one section per rail family."""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    AliasChoices,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from langchain_guardrails.config.pii_entities import BUILTIN_ENTITIES, PRESIDIO_ENTITIES
from langchain_guardrails.config.strict import Strict


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
    """Minimum Presidio score of a finding (default 0.2, as NeMo); the built-in recognizers
    are deterministic and ignore it."""


class SensitiveDataDetection(Strict):
    """``rails.config.sensitive_data_detection``: settings of the sensitive-data rails."""

    recognizers: list[Recognizer] = Field(default_factory=list)
    """Extra entities found by user regexes or deny lists."""
    nlp_engine: dict[str, Any] | None = None
    """Presidio's NLP engine configuration (``nlp_engine_name``, ``models``), for entities
    only Presidio finds (``PERSON``, ``LOCATION``, ...; ``presidio`` extra). Model folders
    starting with ``./`` are relative to the config folder."""
    language: str = "en"
    """Language code of the texts, passed to Presidio."""
    input: SensitiveDataOptions = Field(default_factory=SensitiveDataOptions)
    output: SensitiveDataOptions = Field(default_factory=SensitiveDataOptions)

    @field_validator("input", "output")
    @classmethod
    def _known_entities(
        cls, options: SensitiveDataOptions, info: ValidationInfo
    ) -> SensitiveDataOptions:
        recognizers = info.data.get("recognizers", [])
        known = [*BUILTIN_ENTITIES, *(r.supported_entity for r in recognizers)]
        for entity in options.entities:
            if entity not in known and entity not in PRESIDIO_ENTITIES:
                raise ValueError(
                    f"unknown entity {entity!r}; known entities: {', '.join(dict.fromkeys(known))}"
                    f"; with the presidio extra: {', '.join(PRESIDIO_ENTITIES)}"
                )
        return options


class JailbreakDetection(Strict):
    """``rails.config.jailbreak_detection`` (NeMo Guardrails' keys).

    ``jailbreak detection heuristics`` runs in-process on ``model_path`` (``hf`` extra) or, with
    ``server_endpoint``, calls a NeMo-compatible jailbreak detection server. ``jailbreak
    detection model`` calls ``nim_base_url`` (NemoGuard JailbreakDetect NIM) or
    ``server_endpoint``. Every remote call fails closed: an error or an unreadable answer blocks.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    model_path: str | None = None
    """Local folder of a transformers causal LM (e.g. ``gpt2-large`` saved with
    ``save_pretrained``); relative paths start at the config folder. Nothing is downloaded."""
    device: str = "cpu"
    """Torch device for the model."""
    length_per_perplexity_threshold: float = Field(
        default=89.79,
        gt=0,
        validation_alias=AliasChoices("length_per_perplexity_threshold", "lp_threshold"),
    )
    """Block when ``len(text) / perplexity(text)`` reaches this value (alias ``lp_threshold``,
    the name of the server API)."""
    prefix_suffix_perplexity_threshold: float = Field(
        default=1845.65,
        gt=0,
        validation_alias=AliasChoices("prefix_suffix_perplexity_threshold", "ps_ppl_threshold"),
    )
    """Block when the perplexity of the first or last 19 words reaches this value (alias
    ``ps_ppl_threshold``)."""
    server_endpoint: str | None = None
    """Full URL of a jailbreak detection server route: ``.../heuristics`` for ``jailbreak
    detection heuristics``, ``.../model`` for ``jailbreak detection model``."""
    nim_base_url: str | None = None
    """Base URL of a NemoGuard JailbreakDetect NIM, e.g. ``http://localhost:8000/v1``."""
    nim_server_endpoint: str = "classify"
    """Path of the NIM's classification route, joined to ``nim_base_url``."""
    api_key_env_var: str | None = None
    """Environment variable holding the bearer token of the NIM (read at each call)."""
    nim_url: str | None = None
    """Deprecated by NeMo: host of the NIM; becomes ``http://<nim_url>:<nim_port>/v1``."""
    nim_port: int | None = None
    """Deprecated by NeMo: port of ``nim_url`` (default 8000)."""
    embedding: str | None = None
    """No longer used by NeMo; accepted and ignored."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds a remote check may take (then the rail fails closed)."""

    @model_validator(mode="after")
    def _migrate_nim_url(self) -> JailbreakDetection:
        if self.nim_url and not self.nim_base_url:
            base = f"http://{self.nim_url}:{self.nim_port or 8000}/v1"
            object.__setattr__(self, "nim_base_url", base)  # frozen model: set once, here
        return self


class MultilingualRefusals(Strict):
    """``rails.config.content_safety.multilingual`` (NeMo's keys)."""

    enabled: bool = False
    """Refuse in the user's language when a content-safety rail blocks (language detected on
    the user message; ``multilingual`` extra)."""
    refusal_messages: dict[str, str] | None = None
    """Refusal text per language code; others use the built-in text of that language, else
    the ``en`` entry, else the English default (as in NeMo)."""
    max_text_length: int | None = Field(default=None, ge=1)
    """Characters of the user message read to detect its language (default: all)."""
    normalize_text: bool = True
    """Accepted for NeMo compatibility (its detector's option); detection here normalises."""
    cache_dir: str | None = None
    """Accepted for NeMo compatibility (its detector's model cache); nothing is cached here."""


class ContentSafetyReasoning(Strict):
    """``rails.config.content_safety.reasoning`` (NeMo)."""

    enabled: bool = False
    """Passed to content-safety prompts as ``{{ reasoning_enabled }}`` (Nemotron safety
    models switch between ``/think`` and ``/no_think`` on it)."""


class ContentSafety(Strict):
    """``rails.config.content_safety``: settings of ``content safety check input|output``."""

    multilingual: MultilingualRefusals = Field(default_factory=MultilingualRefusals)
    reasoning: ContentSafetyReasoning = Field(default_factory=ContentSafetyReasoning)


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


class GlinerEntities(Strict):
    """What one stage of ``rails.config.gliner`` looks for."""

    entities: list[str] = Field(default_factory=list)
    """GLiNER labels (``email``, ``phone_number``, ``ssn``, ...); empty: the server's own."""


class GlinerDetection(Strict):
    """``rails.config.gliner`` (NeMo's keys): the GLiNER PII server of ``gliner detect|mask
    pii on input|output``. A server that fails blocks (fail-closed)."""

    server_endpoint: str = "http://localhost:8000/v1/chat/completions"
    """The server's URL: a GLiNER NIM's ``.../v1/chat/completions`` (NeMo's default), or a
    GLiNER server's ``.../v1/extract``."""
    model: str = "nvidia/gliner-pii"
    """The model named in requests to a NIM (``/v1/chat/completions`` endpoints only)."""
    api_key_env_var: str | None = None
    """Environment variable holding the bearer token (read at each call)."""
    threshold: float = Field(default=0.5, ge=0, le=1)
    """Lowest confidence of an entity the server reports."""
    chunk_length: int = 384
    """Characters per chunk the server reads."""
    overlap: int = 128
    """Characters shared by consecutive chunks."""
    flat_ner: bool = False
    """Flat NER (no nested entities)."""
    input: GlinerEntities = Field(default_factory=GlinerEntities)
    output: GlinerEntities = Field(default_factory=GlinerEntities)
    retrieval: GlinerEntities = Field(default_factory=GlinerEntities)
    """Accepted for NeMo compatibility: retrieval rails are not supported here."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds a request may take (then the rail fails closed)."""

    @model_validator(mode="after")
    def _chunking(self) -> GlinerDetection:
        if self.chunk_length <= 0:
            raise ValueError(f"chunk_length must be positive (got {self.chunk_length})")
        if not 0 <= self.overlap < self.chunk_length:
            raise ValueError(
                f"overlap must be between 0 and chunk_length - 1 ({self.chunk_length - 1}) "
                f"(got {self.overlap})"
            )
        return self


class HuggingfaceModel(Strict):
    """One entry of ``rails.config.huggingface_detector.models`` (NeMo's keys)."""

    model_repo: str
    """The model's Hugging Face id, as flows name it (``$hf_model=<model_repo>``)."""
    descriptor: str | None = None
    """What the model detects; shown in the block reason."""
    blocked_classes: list[str | int] = Field(default_factory=list)
    """Labels (as in the model's ``id2label``) or class indices that block when the model
    predicts them (its top class); empty: the rail allows everything, as in NeMo."""
    device: str | None = None
    """Torch device (default: ``cpu``)."""
    model_path: str | None = None
    """A local model folder (relative paths start at the config folder); without it the
    model is taken from the local Hugging Face cache. Nothing is downloaded. Not a NeMo key."""


class HuggingfaceDetector(Strict):
    """``rails.config.huggingface_detector``: local text classifiers of ``huggingface
    detector check input|output $hf_model=<model_repo>`` (NeMo's keys)."""

    models: list[HuggingfaceModel] = Field(default_factory=list)


class PromptInjection(Strict):
    """``rails.config.prompt_injection``: settings of ``prompt injection check input|output``.

    Set at most one of ``threshold`` and ``target_fpr``; with neither, the shipped model's
    default threshold applies (the one with a 2 % false-positive rate on its validation split).
    """

    threshold: float | None = Field(default=None, ge=0, le=1)
    """Block when the injection score (0..1) is at least this."""
    target_fpr: float | None = Field(default=None, ge=0, le=1)
    """Block at the threshold whose false-positive rate on the shipped validation split's
    benign texts is at most this (e.g. ``0.01``)."""

    @model_validator(mode="after")
    def _one_of(self) -> PromptInjection:
        if self.threshold is not None and self.target_fpr is not None:
            raise ValueError("set threshold or target_fpr, not both")
        return self


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
    content_safety: ContentSafety = Field(default_factory=ContentSafety)
    """Settings of the content-safety rails (NeMo's keys)."""
    huggingface_detector: HuggingfaceDetector = Field(default_factory=HuggingfaceDetector)
    """Local classifiers of ``huggingface detector check ...`` (NeMo's keys)."""
    gliner: GlinerDetection = Field(default_factory=GlinerDetection)
    """The GLiNER PII server of ``gliner detect|mask pii on input|output`` (NeMo's keys)."""
    prompt_injection: PromptInjection = Field(default_factory=PromptInjection)
    """Settings of ``prompt injection check input|output``."""
