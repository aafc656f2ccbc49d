"""``--sweep``: ROC AUC and the threshold for a target false-positive rate, for rails that
give a score.

A rail only reports its score when it blocks, so a scoring rail is measured on a copy of the
config whose threshold makes it block every text; the score is then read from the block
metadata. :data:`SCORERS` knows the built-in scoring rails (``hf classifier check ...`` and
``jailbreak detection heuristics``); :func:`register_scorer` adds your own.

Example:
    .. code-block:: python

        sweeps = await sweep(config, examples, target_fpr=0.01)
        sweeps[0].auc
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.engine.rail_engine import parse_flow
from langchain_guardrails.eval.dataset import Example
from langchain_guardrails.eval.metrics import Operating, roc_auc, threshold_at_fpr
from langchain_guardrails.eval.runner import build_guarded
from langchain_guardrails.eval.stages import (
    check_example,
    flow_name,
    stage_flows,
    supports_stage,
    with_flows,
)


@dataclass(frozen=True, slots=True)
class Scorer:
    """How to read one score of a rail."""

    score: str
    """Name of the score, e.g. ``toxic`` or ``length_per_perplexity``."""
    prepare: Callable[[RailsConfig, Mapping[str, str]], RailsConfig]
    """``(config, flow parameters) -> copy`` in which the rail blocks every text."""
    read: Callable[[Mapping[str, Any]], float | None]
    """The score from the block metadata (``None``: not measured for this text)."""
    current: Callable[[RailsConfig, Mapping[str, str]], float | None]
    """The threshold the config uses today."""


SCORERS: dict[str, tuple[Scorer, ...]] = {}
"""Action name (flow name without ``$`` parameters) -> its scores."""


def register_scorer(name: str, *scorers: Scorer) -> None:
    """Make ``--sweep`` measure the rail ``name`` with ``scorers``.

    Example:
        .. code-block:: python

            register_scorer("my score rail", Scorer("score", prepare, read, current))
    """
    SCORERS[name] = scorers


@dataclass(frozen=True, slots=True)
class Sweep:
    """ROC figures of one score of one rail."""

    stage: str
    rail: str
    score: str
    n_scored: int
    """Examples with a score (the others are left out)."""
    auc: float | None
    at_target: Operating
    """Lowest threshold whose false-positive rate is within the target."""
    target_fpr: float
    current_threshold: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "stage": self.stage,
            "rail": self.rail,
            "score": self.score,
            "n_scored": self.n_scored,
            "roc_auc": self.auc,
            "target_fpr": self.target_fpr,
            "threshold": self.at_target.threshold,
            "recall_at_threshold": self.at_target.tpr,
            "fpr_at_threshold": self.at_target.fpr,
            "current_threshold": self.current_threshold,
        }


async def sweep(
    config: RailsConfig,
    examples: Sequence[Example],
    *,
    target_fpr: float = 0.01,
    llm: Runnable[Any, Any] | None = None,
    concurrency: int = 8,
) -> list[Sweep]:
    """Score every example with each scoring rail of its stage.

    Example:
        .. code-block:: python

            for s in await sweep(config, examples, target_fpr=0.05):
                print(s.rail, s.auc, s.at_target.threshold)
    """
    gate = asyncio.Semaphore(concurrency)
    results = []
    for stage in dict.fromkeys(e.stage for e in examples):
        items = [e for e in examples if e.stage == stage]
        for flow in stage_flows(config, stage) or []:
            name, params, _ = parse_flow(flow)
            for scorer in SCORERS.get(name, ()):
                single = with_flows(config, stage, [flow])
                guarded = build_guarded(scorer.prepare(single, params), llm)
                if not supports_stage(guarded, stage):
                    continue

                scores = await asyncio.gather(*(_score(guarded, scorer, e, gate) for e in items))
                pairs = [(s, e.should_block) for s, e in zip(scores, items, strict=True)]
                scored = [(s, p) for s, p in pairs if s is not None]
                values = [s for s, _ in scored]
                positives = [p for _, p in scored]
                results.append(
                    Sweep(
                        stage=stage,
                        rail=flow_name(flow),
                        score=scorer.score,
                        n_scored=len(scored),
                        auc=roc_auc(values, positives),
                        at_target=threshold_at_fpr(values, positives, target_fpr),
                        target_fpr=target_fpr,
                        current_threshold=scorer.current(config, params),
                    )
                )
    return results


async def _score(
    guarded: Any, scorer: Scorer, example: Example, gate: asyncio.Semaphore
) -> float | None:
    async with gate:
        checked = await check_example(guarded, example, {})
    return scorer.read(checked.metadata) if checked.status == "blocked" else None


# -- the built-in scoring rails ------------------------------------------------------------


def _update(config: RailsConfig, settings: Any) -> RailsConfig:
    rails = config.rails.model_copy(update={"config": settings})
    return config.model_copy(update={"rails": rails})


def _classifier_prepare(config: RailsConfig, params: Mapping[str, str]) -> RailsConfig:
    settings = config.rails.config
    name = params.get("classifier", "")
    if name not in settings.classifiers:
        return config  # building the rail reports the missing classifier
    classifiers = dict(settings.classifiers)
    classifiers[name] = classifiers[name].model_copy(update={"threshold": 0.0})
    return _update(config, settings.model_copy(update={"classifiers": classifiers}))


def _classifier_read(metadata: Mapping[str, Any]) -> float | None:
    scores = metadata.get("scores")
    return max(scores.values()) if isinstance(scores, dict) and scores else None


def _classifier_current(config: RailsConfig, params: Mapping[str, str]) -> float | None:
    found = config.rails.config.classifiers.get(params.get("classifier", ""))
    return found.threshold if found is not None else None


def _jailbreak_prepare(config: RailsConfig, params: Mapping[str, str]) -> RailsConfig:
    settings = config.rails.config
    # Not validated (thresholds must be > 0 in config.yml): 0 makes every measured text block.
    lowered = settings.jailbreak_detection.model_copy(
        update={"length_per_perplexity_threshold": 0.0, "prefix_suffix_perplexity_threshold": 0.0}
    )
    return _update(config, settings.model_copy(update={"jailbreak_detection": lowered}))


def _prefix_suffix(metadata: Mapping[str, Any]) -> float | None:
    values = [metadata.get(k) for k in ("prefix_perplexity", "suffix_perplexity")]
    measured = [float(v) for v in values if isinstance(v, int | float)]
    return max(measured) if measured else None


def _number(key: str) -> Callable[[Mapping[str, Any]], float | None]:
    def read(metadata: Mapping[str, Any]) -> float | None:
        value = metadata.get(key)
        return float(value) if isinstance(value, int | float) else None

    return read


for _stage in ("input", "output"):
    register_scorer(
        f"hf classifier check {_stage}",
        Scorer("block label score", _classifier_prepare, _classifier_read, _classifier_current),
    )
register_scorer(
    "jailbreak detection heuristics",
    Scorer(
        "length_per_perplexity",
        _jailbreak_prepare,
        _number("length_per_perplexity"),
        lambda c, p: c.rails.config.jailbreak_detection.length_per_perplexity_threshold,
    ),
    Scorer(
        "prefix_suffix_perplexity",
        _jailbreak_prepare,
        _prefix_suffix,
        lambda c, p: c.rails.config.jailbreak_detection.prefix_suffix_perplexity_threshold,
    ),
)

__all__ = ["SCORERS", "Scorer", "Sweep", "register_scorer", "sweep"]
