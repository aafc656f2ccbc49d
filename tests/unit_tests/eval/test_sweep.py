"""``--sweep``: ROC AUC and the threshold for a target FPR, for rails that give a score."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from langchain_guardrails import RailsConfig
from langchain_guardrails.config.actions import RailResult, action
from langchain_guardrails.eval import Scorer, parse_lines, register_scorer, sweep
from langchain_guardrails.eval.stages import with_flows
from langchain_guardrails.eval.sweep import SCORERS

SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.2, 0.1]
POSITIVES = [True, True, False, True, False, True, False, False]


@action(name="score rail")
def score_rail(text: str, params: dict[str, str]) -> RailResult:
    score = float(text.split()[0])
    if score < float(params["threshold"]):
        return RailResult(allowed=True)
    return RailResult(allowed=False, reason="score", metadata={"score": score})


def prepare(config: RailsConfig, params: Mapping[str, str]) -> RailsConfig:
    return with_flows(config, "input", ["score rail $threshold=-1"])


@pytest.fixture
def scorer() -> Iterator[None]:
    register_scorer(
        "score rail",
        Scorer(
            "score",
            prepare,
            lambda metadata: metadata.get("score"),
            lambda config, params: float(params["threshold"]),
        ),
    )
    yield
    del SCORERS["score rail"]


def dataset() -> list[Any]:
    return parse_lines(
        json.dumps({"input": f"{s} text", "label": "block" if p else "allow"})
        for s, p in zip(SCORES, POSITIVES, strict=True)
    )


@pytest.mark.usefixtures("scorer")
async def test_custom_scoring_rail() -> None:
    config = RailsConfig.from_content(
        config={"rails": {"input": {"flows": ["score rail $threshold=0.85", "regex check input"]}}}
    )
    object.__setattr__(config, "_actions", (score_rail,))
    found = await sweep(config, dataset(), target_fpr=0.25)
    assert [s.as_dict() for s in found] == [
        {
            "stage": "input",
            "rail": "score rail $threshold=0.85",
            "score": "score",
            "n_scored": 8,
            # (4 + 4 + 3 + 2) wins of 16 positive/negative pairs
            "roc_auc": 0.8125,
            "target_fpr": 0.25,
            "threshold": 0.6,
            "recall_at_threshold": 0.75,
            "fpr_at_threshold": 0.25,
            "current_threshold": 0.85,
        }
    ]


async def test_no_scoring_rail_gives_no_sweep() -> None:
    config = RailsConfig.from_content(config={"rails": {"input": {"flows": ["regex check input"]}}})
    assert await sweep(config, dataset()) == []


async def test_builtin_classifier_is_swept(tiny_classifier: Path) -> None:
    config = RailsConfig.from_content(
        config={
            "rails": {
                "input": {"flows": ["hf classifier check input $classifier=toxicity"]},
                "config": {
                    "classifiers": {
                        "toxicity": {
                            "model_path": str(tiny_classifier),
                            "block_labels": ["toxic"],
                            "threshold": 0.5,
                        }
                    }
                },
            }
        }
    )
    before = config.model_dump()
    data = parse_lines(
        json.dumps({"input": text, "label": label})
        for text, label in [
            ("you idiot!", "block"),
            ("go away!!", "block"),
            ("you are an idiot", "block"),
            ("hello there", "allow"),
            ("nice weather", "allow"),
        ]
    )
    (found,) = await sweep(config, data, target_fpr=0.0)
    assert config.model_dump() == before
    # "!" texts score ~1, the others all score the same: ties with both negatives
    assert (found.rail, found.score, found.n_scored) == (
        "hf classifier check input $classifier=toxicity", "block label score", 5,
    )  # fmt: skip
    assert found.auc == pytest.approx(5 / 6)
    assert found.at_target.threshold > 0.99
    assert (found.at_target.tpr, found.at_target.fpr) == (pytest.approx(2 / 3), 0.0)
    assert found.current_threshold == 0.5


def test_jailbreak_scorer_lowers_both_thresholds_on_a_copy() -> None:
    (length, prefix) = SCORERS["jailbreak detection heuristics"]
    config = RailsConfig.from_content(config={"rails": {"input": {"flows": []}}})
    lowered = length.prepare(config, {})
    settings = lowered.rails.config.jailbreak_detection
    assert (
        settings.length_per_perplexity_threshold,
        settings.prefix_suffix_perplexity_threshold,
    ) == (0.0, 0.0)
    assert config.rails.config.jailbreak_detection.length_per_perplexity_threshold == 89.79
    metadata = {"length_per_perplexity": 3.5, "prefix_perplexity": 10.0, "suffix_perplexity": None}
    assert (length.read(metadata), prefix.read(metadata)) == (3.5, 10.0)
    assert prefix.read({"prefix_perplexity": None, "suffix_perplexity": None}) is None
    assert (length.current(config, {}), prefix.current(config, {})) == (89.79, 1845.65)
