"""``hf classifier check input|output $classifier=<name>``: a local transformers
text-classification model (``rails.config.classifiers.<name>``, ``hf`` extra).

The text (a window, for output rails) is cut into pieces of at most ``max_chars`` characters
at whitespace, so nothing is lost to the model's truncation, and all pieces go to the model in
one batch. The pipeline is loaded once per process and shared by every stream (see
:mod:`~langchain_guardrails.rails.hf_models`); concurrent windows share batched calls.
The rail blocks when a ``block_labels`` label scores at least ``threshold`` on any piece; it
reports that highest score (``metadata["score"]``) and the threshold on a pass as on a block, so
it can be the cheap step of a cascade (``engine.cascade``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from langchain_guardrails.config.actions import ActionSpec, RailResult, build_spec
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError, require
from langchain_guardrails.rails.hf_models import (
    BatchWorker,
    model_folder,
    model_labels,
    require_hf,
    shared_worker,
)

Stage = Literal["input", "output"]
Factory = Callable[[RailsConfig, Mapping[str, str]], ActionSpec]
Scores = dict[str, float]


def split_pieces(text: str, max_chars: int) -> list[str]:
    """``text`` in pieces of at most ``max_chars``, cut at whitespace where possible."""
    pieces = []
    start = 0
    while len(text) - start > max_chars:
        cut = text.rfind(" ", start + 1, start + max_chars + 1)
        if cut <= start:
            cut = start + max_chars
        pieces.append(text[start:cut])
        start = cut
    if text[start:].strip():
        pieces.append(text[start:])
    return [p for p in pieces if p.strip()]


def hf_classifier_check(stage: Stage) -> Factory:
    """Factory of ``hf classifier check <stage> $classifier=<name>``."""
    rail = f"hf classifier check {stage}"

    def factory(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
        classifiers = config.rails.config.classifiers
        extra = sorted(set(params) - {"classifier"})
        if extra:
            raise ConfigError(f"{rail!r}: unknown parameter ${extra[0]}; known: $classifier")
        name = params.get("classifier")
        configured = ", ".join(classifiers) or "none configured"
        if not name:
            raise ConfigError(
                f"{rail!r} needs $classifier=<name> naming an entry of rails.config.classifiers "
                f"(configured: {configured})"
            )
        settings = classifiers.get(name)
        if settings is None:
            raise ConfigError(
                f"{rail!r}: no classifier {name!r} in rails.config.classifiers "
                f"(configured: {configured})"
            )
        key = f"classifiers.{name}"
        folder = model_folder(config, settings.model_path, key, rail)
        labels = model_labels(folder)
        unknown = [label for label in settings.block_labels if label not in labels]
        if unknown:
            raise ConfigError(
                f"rails.config.{key}.block_labels: the model has no label {unknown[0]!r}; "
                f"its labels: {', '.join(labels)}"
            )
        require_hf()
        worker: BatchWorker[str, Scores] = shared_worker(
            ("text-classification", str(folder.resolve()), settings.device),
            lambda: BatchWorker(
                lambda: load_classifier(folder, settings.device, settings.batch_size),
                batch_size=settings.batch_size,
                name=f"langchain-guardrails-classifier-{name}",
            ),
        )
        block_labels, threshold, max_chars = (
            settings.block_labels,
            settings.threshold,
            settings.max_chars,
        )

        async def check(text: str) -> RailResult:
            scores = await worker.run(split_pieces(text, max_chars))
            top = {
                label: max((s.get(label, 0.0) for s in scores), default=0.0)
                for label in block_labels
            }
            hits = [label for label in block_labels if top[label] >= threshold]
            # The highest block-label score, on a pass as on a block: a cascade decides on it.
            figures = {
                "classifier": name,
                "score": round(max(top.values(), default=0.0), 4),
                "threshold": threshold,
            }
            if not hits:
                return RailResult(allowed=True, metadata=figures)
            return RailResult(
                allowed=False,
                reason=f"classifier {name!r}: {hits[0]} scored {top[hits[0]]:.3f} "
                f"(threshold {threshold:g})",
                metadata={
                    **figures,
                    "categories": hits,
                    "scores": {label: round(top[label], 4) for label in hits},
                },
            )

        return build_spec(check, name=rail)

    return factory


def load_classifier(
    folder: Path, device: str, batch_size: int
) -> Callable[[list[str]], list[Scores]]:
    """Load the text-classification pipeline in ``folder``; a function scoring every label
    of each text."""
    transformers = require("transformers", "hf")
    pipe = transformers.pipeline(
        "text-classification", model=str(folder), device=device, top_k=None
    )

    def classify(texts: list[str]) -> list[Scores]:
        results = pipe(texts, truncation=True, batch_size=batch_size)
        return [{item["label"]: float(item["score"]) for item in result} for result in results]

    return classify


__all__ = ["hf_classifier_check", "load_classifier", "split_pieces"]
