"""GLiNER PII rails: ``gliner detect pii on input|output`` and ``gliner mask pii on
input|output`` against a GLiNER server (``rails.config.gliner``), as NeMo Guardrails calls it.

Two server formats, chosen by the endpoint as NeMo chooses them:

* a GLiNER NIM (``server_endpoint`` ending in ``/v1/chat/completions``): ``POST {"model",
  "messages": [{"role": "user", "content": text}], "threshold", "chunk_length", "overlap",
  "flat_ner"[, "labels"]}``; the answer's ``choices[0].message.content`` is a JSON object
  whose ``entities`` have ``text``, ``label``, ``start``, ``end``;
* a GLiNER server (``.../v1/extract``): ``POST {"text", "threshold", "chunk_length",
  "overlap", "flat_ner"[, "labels"]}``, answered with ``{"entities": [{"value",
  "suggested_label", "start_position", "end_position", "score"}], "total_entities"}``.

``labels`` are the stage's ``entities`` when set. Detection blocks when the server found any
entity; masking replaces each one by ``[LABEL]`` (NeMo's mask). Unlike NeMo, whose rail raises
when the server fails, a failed request or an answer that cannot be read blocks (fail-closed),
and the reason says why without quoting the server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, Literal

from langchain_guardrails.config.actions import ActionSpec, RailResult, apply_spans, build_spec
from langchain_guardrails.config.rail_settings import GlinerDetection
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.rails.jailbreak_remote import RemoteCheckError, post_json

Stage = Literal["input", "output"]
Factory = Callable[[RailsConfig, Mapping[str, str]], ActionSpec]
Entity = tuple[int, int, str]
"""``(start, end, label)`` of one entity in the checked text."""

_ALLOW = RailResult(allowed=True)


def gliner_detect_pii(stage: Stage) -> Factory:
    """Factory of ``gliner detect pii on <stage>``: blocks text holding any entity."""
    rail = f"gliner detect pii on {stage}"

    def factory(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
        ask = _client(config.rails.config.gliner, stage, rail, params)

        async def detect(text: str) -> RailResult:
            entities = await _found(ask, rail, text)
            if isinstance(entities, RailResult):
                return entities
            if not entities:
                return _ALLOW
            labels = list(dict.fromkeys(label for _, _, label in entities))
            return RailResult(
                allowed=False,
                reason=f"{rail}: PII found: {', '.join(labels)}",
                metadata={"entities": labels},
            )

        return build_spec(detect, name=rail)

    return factory


def gliner_mask_pii(stage: Stage) -> Factory:
    """Factory of ``gliner mask pii on <stage>``: replaces each entity by ``[LABEL]``."""
    rail = f"gliner mask pii on {stage}"

    def factory(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
        ask = _client(config.rails.config.gliner, stage, rail, params)

        async def mask(text: str) -> RailResult:
            entities = await _found(ask, rail, text)
            if isinstance(entities, RailResult):
                return entities
            spans = [(start, end, f"[{label.upper()}]") for start, end, label in entities]
            if not spans:
                return _ALLOW
            return RailResult(True, text=apply_spans(text, spans), spans=spans)

        return build_spec(mask, name=rail, rewrites=True)

    return factory


async def _found(ask: Callable[[str], Any], rail: str, text: str) -> list[Entity] | RailResult:
    """The entities the server found in ``text`` (none in blank text, which is not sent), or
    the failing result when the server could not answer (a failed check blocks)."""
    if not text.strip():
        return []
    try:
        found: list[Entity] = await ask(text)
    except RemoteCheckError as error:
        return _failed(rail, error)
    return found


def _client(
    settings: GlinerDetection, stage: Stage, rail: str, params: Mapping[str, str]
) -> Callable[[str], Any]:
    if params:
        raise ConfigError(
            f"{rail!r} takes no $ parameters (got ${next(iter(params))}); configure it in "
            "rails.config.gliner"
        )
    url = settings.server_endpoint
    nim = url.rstrip("/").endswith("/v1/chat/completions")
    labels = getattr(settings, stage).entities

    async def ask(text: str) -> list[Entity]:
        options: dict[str, Any] = {
            "threshold": settings.threshold,
            "chunk_length": settings.chunk_length,
            "overlap": settings.overlap,
            "flat_ner": settings.flat_ner,
        }
        if nim:
            payload = {
                "model": settings.model,
                "messages": [{"role": "user", "content": text}],
                **options,
            }
        else:
            payload = {"text": text, **options}
        if labels:
            payload["labels"] = list(labels)
        # Read at each call: credentials are not needed to load the config.
        env = settings.api_key_env_var
        token = os.environ.get(env) if env else None
        body = await post_json(url, payload, seconds=settings.timeout, token=token)
        return _entities(_nim_content(body) if nim else body, len(text), nim=nim)

    return ask


def _nim_content(body: Mapping[str, Any]) -> Mapping[str, Any]:
    try:
        content = body["choices"][0]["message"]["content"]
        data = json.loads(content)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise RemoteCheckError("the answer has no JSON message content") from exc
    if not isinstance(data, dict):
        raise RemoteCheckError("the answer's message content is not a JSON object")
    return data


def _entities(data: Mapping[str, Any], length: int, *, nim: bool) -> list[Entity]:
    """The answer's entities, checked and without overlaps (the first of two kept)."""
    start_key, end_key, label_key = (
        ("start", "end", "label") if nim else ("start_position", "end_position", "suggested_label")
    )
    raw = data.get("entities")
    if not isinstance(raw, list):
        raise RemoteCheckError("the answer has no 'entities' list")
    found: list[Entity] = []
    for item in raw:
        if not isinstance(item, dict):
            raise RemoteCheckError("an entity of the answer is not an object")
        start, end = item.get(start_key), item.get(end_key)
        label = item.get(label_key)
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= length):
            raise RemoteCheckError("an entity's position is not in the text")
        if not isinstance(label, str) or not label:
            raise RemoteCheckError("an entity has no label")
        found.append((start, end, label))
    kept: list[Entity] = []
    for entity in sorted(found, key=lambda e: (e[0], -e[1])):
        # Nested entities (flat_ner: false) overlap: masking the outer one hides both.
        if not kept or entity[0] >= kept[-1][1]:
            kept.append(entity)
    return kept


def _failed(rail: str, error: RemoteCheckError) -> RailResult:
    return RailResult(
        allowed=False,
        reason=f"{rail}: the GLiNER server gave no answer ({error}); blocked to be safe",
        metadata={"error": "remote_check_failed"},
    )


__all__ = ["gliner_detect_pii", "gliner_mask_pii"]
