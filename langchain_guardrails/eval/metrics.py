"""Quality and cost figures computed by hand: confusion matrix, precision / recall / F1 / FPR,
per-category rates, latency percentiles, ROC AUC and the threshold for a target FPR.

A *positive* is an example labelled ``block``; a rail *flags* an example when it blocks it (or
rewrites it: a masking rail that rewrote a text found what it looks for). Ratios with a zero
denominator are ``None`` (shown as ``-``), never a made-up 0 or 1.

Example:
    .. code-block:: python

        c = Confusion.of([True, True, False], [True, False, False])
        c.tp, c.fn, c.tn, c.recall  # 1, 1, 1, 0.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def ratio(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator``, or ``None`` when the denominator is 0."""
    return numerator / denominator if denominator else None


@dataclass(frozen=True, slots=True)
class Confusion:
    """Counts of one rail (or all rails of a stage) over a dataset."""

    tp: int = 0
    """Labelled block, flagged."""
    fp: int = 0
    """Labelled allow, flagged."""
    tn: int = 0
    """Labelled allow, not flagged."""
    fn: int = 0
    """Labelled block, not flagged."""

    @classmethod
    def of(cls, expected: Iterable[bool], flagged: Iterable[bool]) -> Confusion:
        """Count pairs of (should block, was flagged).

        Example:
            .. code-block:: python

                Confusion.of([True, False], [True, True]).fp  # 1
        """
        tp = fp = tn = fn = 0
        for should, did in zip(expected, flagged, strict=True):
            if should and did:
                tp += 1
            elif should:
                fn += 1
            elif did:
                fp += 1
            else:
                tn += 1
        return cls(tp, fp, tn, fn)

    @property
    def total(self) -> int:
        """Number of examples."""
        return self.tp + self.fp + self.tn + self.fn

    @property
    def precision(self) -> float | None:
        """Share of flagged examples that should be blocked."""
        return ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        """Share of examples to block that were flagged (true-positive rate)."""
        return ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall (``2tp / (2tp + fp + fn)``)."""
        return ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def fpr(self) -> float | None:
        """Share of examples to allow that were flagged (false-positive rate)."""
        return ratio(self.fp, self.fp + self.tn)

    @property
    def accuracy(self) -> float | None:
        """Share of examples judged as labelled."""
        return ratio(self.tp + self.tn, self.total)

    def as_dict(self) -> dict[str, int | float | None]:
        """Counts and rates, for JSON reports."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "fpr": self.fpr,
            "accuracy": self.accuracy,
        }


def category_rates(
    categories: Sequence[str | None], expected: Sequence[bool], flagged: Sequence[bool]
) -> dict[str, dict[str, float | int | None]]:
    """Per category: ``n`` examples, ``recall`` over its block-labelled examples and ``fpr``
    over its allow-labelled ones (hard negatives). Examples without a category are left out.

    Example:
        .. code-block:: python

            category_rates(["A", "A"], [True, True], [True, False])["A"]["recall"]  # 0.5
    """
    groups: dict[str, list[tuple[bool, bool]]] = {}
    for category, should, did in zip(categories, expected, flagged, strict=True):
        if category is not None:
            groups.setdefault(category, []).append((should, did))
    rates: dict[str, dict[str, float | int | None]] = {}
    for category in sorted(groups):
        counts = Confusion.of(*zip(*groups[category], strict=True))
        rates[category] = {"n": counts.total, "recall": counts.recall, "fpr": counts.fpr}
    return rates


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks (as
    ``numpy.percentile``); ``None`` for no values.

    Example:
        .. code-block:: python

            percentile([1.0, 2.0, 3.0, 4.0], 50)  # 2.5
    """
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100 (got {q})")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float | None]:
    """min / p50 / p95 / p99 / mean / max of check latencies, in milliseconds (the minimum
    lets a report draw the whole spread of a rail, on a log axis)."""
    millis = [s * 1000 for s in seconds]
    return {
        "min_ms": min(millis) if millis else None,
        "p50_ms": percentile(millis, 50),
        "p95_ms": percentile(millis, 95),
        "p99_ms": percentile(millis, 99),
        "mean_ms": sum(millis) / len(millis) if millis else None,
        "max_ms": max(millis) if millis else None,
    }


def roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """Area under the ROC curve: the chance that a random positive scores above a random
    negative (ties count half; Mann-Whitney U). ``None`` without both classes.

    Example:
        .. code-block:: python

            roc_auc([0.9, 0.4, 0.4, 0.1], [True, True, False, False])  # 0.875
    """
    pos = [s for s, p in zip(scores, positives, strict=True) if p]
    neg = [s for s, p in zip(scores, positives, strict=True) if not p]
    if not pos or not neg:
        return None
    wins = 0.0
    for p in pos:
        for n in neg:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(pos) * len(neg))


@dataclass(frozen=True, slots=True)
class Operating:
    """A threshold (block when ``score >= threshold``) and the rates it gives."""

    threshold: float
    tpr: float | None
    fpr: float | None


def threshold_at_fpr(
    scores: Sequence[float], positives: Sequence[bool], target_fpr: float
) -> Operating:
    """The lowest threshold (so the highest recall) whose false-positive rate is at most
    ``target_fpr``. Candidates are the observed scores; when even the highest one exceeds the
    target, the threshold is ``inf`` (block nothing).

    Example:
        .. code-block:: python

            threshold_at_fpr([0.9, 0.4, 0.4, 0.1], [True, True, False, False], 0.0).threshold
            # 0.9
    """
    if not 0 <= target_fpr <= 1:
        raise ValueError(f"target false-positive rate must be within 0..1 (got {target_fpr})")
    n_pos = sum(positives)
    n_neg = len(positives) - n_pos
    best = Operating(math.inf, 0.0 if n_pos else None, 0.0 if n_neg else None)
    for threshold in sorted(set(scores), reverse=True):
        tp = sum(1 for s, p in zip(scores, positives, strict=True) if p and s >= threshold)
        fp = sum(1 for s, p in zip(scores, positives, strict=True) if not p and s >= threshold)
        fpr = ratio(fp, n_neg)
        if fpr is not None and fpr > target_fpr:
            break
        best = Operating(threshold, ratio(tp, n_pos), fpr)
    return best


__all__ = [
    "Confusion",
    "Operating",
    "category_rates",
    "latency_summary",
    "percentile",
    "ratio",
    "roc_auc",
    "threshold_at_fpr",
]
