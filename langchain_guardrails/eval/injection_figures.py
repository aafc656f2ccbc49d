"""Cross-corpus figures of the prompt-injection rail, beside the example regex set.

    python -m langchain_guardrails.eval.injection_figures      # or: make injection-figures

Leave one corpus out: for each vendored corpus (a source, except that the package's own attacks
and look-alikes, written together, are one corpus), a model is trained on the *other* corpora's
training splits, its threshold is set on their validation split (``target_fpr``), and it scores
every example of the held-out corpus. No score in those rows comes from a model that saw the
corpus of the text it scores. The package's own ``jailbreak.jsonl`` (never trained on) is scored
by the model trained on every source, like the shipped one; so is the validation split (texts
it did not see, from sources it did: an in-distribution figure, for contrast).

Two operating points are printed. *Deployed*: each fold's threshold from its own validation split,
so the false-positive rate on new text is what it is. *Recall at FPR <= 0.05*: the threshold
picked on the pooled held-out scores (an oracle a deployment does not have: it shows what the
scores can separate).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.eval.injection_train import (
    DATA,
    Sample,
    TrainSettings,
    load_samples,
    split,
    train,
)

HELD_OUT = Path(__file__).with_name("data") / "jailbreak.jsonl"
REGEX_CONFIG = Path(__file__).with_name("data") / "configs" / "jailbreak"
TARGET_FPR = 0.05


@dataclass(frozen=True, slots=True)
class Scored:
    """A held-out sample, its score and the threshold of the model that scored it."""

    sample: Sample
    score: float
    threshold: float

    @property
    def blocked(self) -> bool:
        """Whether the rail blocks it."""
        return self.score >= self.threshold


def corpus(source: str) -> str:
    """The corpus a source belongs to: the package's attacks and its look-alikes were written
    together, as counterparts, so they are held out together (training on one and scoring the
    other would let the model learn their author's style)."""
    return "package" if source.startswith("package-") else source


def cross_corpus(samples: Sequence[Sample], settings: TrainSettings | None = None) -> list[Scored]:
    """Leave-one-corpus-out scores of every sample (see the module docstring)."""
    scored: list[Scored] = []
    for held in sorted({corpus(s.source) for s in samples}):
        train_set, validation = split(s for s in samples if corpus(s.source) != held)
        model = train(train_set, validation, settings or TrainSettings())
        threshold = model.threshold_for(TARGET_FPR)
        scored.extend(
            Scored(s, model.score(s.text), threshold) for s in samples if corpus(s.source) == held
        )
    return scored


def held_out(
    samples: Sequence[Sample], extra: Sequence[Sample], settings: TrainSettings
) -> tuple[list[Scored], list[Scored]]:
    """``(extra, validation)`` scored by a model trained on every source's training split (as
    shipped): a set it never saw, and the unseen texts of the sources it did see."""
    train_set, validation = split(samples)
    model = train(train_set, validation, settings)
    threshold = model.threshold_for(TARGET_FPR)
    return (
        [Scored(s, model.score(s.text), threshold) for s in extra],
        [Scored(s, model.score(s.text), threshold) for s in validation],
    )


def regex_scored(samples: Sequence[Sample]) -> list[Scored]:
    """The example regex set (``eval/data/configs/jailbreak``) on the same texts: score 1 on a
    match (as ``regex check input``: case-insensitive search)."""
    config = RailsConfig.from_path(REGEX_CONFIG)
    patterns = [
        re.compile(p, re.IGNORECASE) for p in config.rails.config.regex_detection.input.patterns
    ]
    return [Scored(s, float(any(p.search(s.text) for p in patterns)), 0.5) for s in samples]


@dataclass(frozen=True, slots=True)
class Figures:
    """Recall, false-positive rate, precision and F1 of a set of verdicts."""

    examples: int
    recall: float
    fpr: float
    precision: float
    f1: float


def figures(
    scored: Sequence[Scored], blocked: Callable[[Scored], bool] = lambda s: s.blocked
) -> Figures:
    """The figures of ``scored`` with the verdicts ``blocked`` gives."""
    tp = sum(blocked(s) and s.sample.block for s in scored)
    fp = sum(blocked(s) and not s.sample.block for s in scored)
    positives = sum(s.sample.block for s in scored)
    negatives = len(scored) - positives
    recall = tp / positives if positives else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return Figures(
        len(scored), recall, fp / negatives if negatives else float("nan"), precision, f1
    )


def recall_at_fpr(scored: Sequence[Scored], fpr: float = TARGET_FPR) -> tuple[float, float, float]:
    """``(recall, fpr, f1)`` at the lowest threshold over the pooled scores whose false-positive
    rate is at most ``fpr``."""
    benign = sorted((s.score for s in scored if not s.sample.block), reverse=True)
    allowed = int(fpr * len(benign) + 1e-9)
    cut = benign[allowed] if allowed < len(benign) else -1.0
    result = figures(scored, lambda s: s.score > cut)
    return result.recall, result.fpr, result.f1


def _pct(value: float) -> str:
    return "—" if value != value else f"{value:.3f}"


def table(rows: Sequence[tuple[str, Sequence[Scored]]]) -> str:
    """A markdown table: one row per group, deployed figures and recall at FPR <= 0.05."""
    lines = [
        "| held-out text | examples | recall | FPR | precision | F1 | recall @ FPR≤0.05 (F1) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, scored in rows:
        f = figures(scored)
        oracle = recall_at_fpr(scored)
        at = (
            f"{_pct(oracle[0])} ({_pct(oracle[2])})"
            if f.fpr == f.fpr and f.recall == f.recall
            else "—"
        )
        lines.append(
            f"| {name} | {f.examples} | {_pct(f.recall)} | {_pct(f.fpr)} | {_pct(f.precision)} "
            f"| {_pct(f.f1)} | {at} |"
        )
    return "\n".join(lines)


def category_table(scored: Sequence[Scored], regex: Sequence[Scored]) -> str:
    """Per category: the rail's (deployed) and the regex set's share blocked."""
    lines = ["| category | examples | rail blocks | regex blocks |", "|---|---:|---:|---:|"]
    for category in sorted({s.sample.category for s in scored}):
        mine = [s for s in scored if s.sample.category == category]
        theirs = [s for s in regex if s.sample.category == category]
        share = sum(s.blocked for s in mine) / len(mine)
        other = sum(s.blocked for s in theirs) / len(theirs)
        lines.append(f"| {category} | {len(mine)} | {share:.3f} | {other:.3f} |")
    return "\n".join(lines)


def report(folder: Path = DATA, settings: TrainSettings | None = None) -> str:
    """The whole markdown report."""
    settings = settings or TrainSettings()
    samples = load_samples(folder)
    extra = [
        Sample(e.text, e.block, "jailbreak.jsonl", e.category, e.stage)
        for e in load_samples(HELD_OUT.parent, ["jailbreak"])
    ]
    scored = cross_corpus(samples, settings)
    outside, same_sources = held_out(samples, extra, settings)
    regex = regex_scored([*samples, *extra])
    rows: list[tuple[str, Sequence[Scored]]] = [
        (f"rail: {name}", [s for s in scored if s.sample.source == name])
        for name in sorted({s.sample.source for s in scored})
    ]
    rows.append(("rail: all corpora, pooled", scored))
    rows.append(
        (
            "rail: all corpora, pooled, English text only",
            [s for s in scored if s.sample.category != "non-English"],
        )
    )
    rows.append(("rail: jailbreak.jsonl (package's set)", outside))
    rows.append(("rail: validation split (seen sources, unseen texts)", same_sources))
    rows.append(("regex set: all corpora", regex[: len(samples)]))
    rows.append(("regex set: jailbreak.jsonl", regex[len(samples) :]))
    return "\n\n".join(
        [
            "### Cross-corpus (leave one corpus out)",
            table(rows),
            "### Per category (held-out scores, deployed thresholds)",
            category_table([*scored, *outside], regex),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    print(report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
