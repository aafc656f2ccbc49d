"""Every metric on tiny inputs with answers worked out by hand."""

from __future__ import annotations

import math

import pytest

from langchain_guardrails.eval.metrics import (
    Confusion,
    Operating,
    category_rates,
    latency_summary,
    percentile,
    roc_auc,
    threshold_at_fpr,
)


def test_confusion_counts_and_rates() -> None:
    # expected: B B B B A A A A A A ; flagged: Y Y Y N Y N N N N N
    expected = [True] * 4 + [False] * 6
    flagged = [True, True, True, False, True] + [False] * 5
    c = Confusion.of(expected, flagged)
    assert (c.tp, c.fn, c.fp, c.tn) == (3, 1, 1, 5)
    assert c.precision == 0.75
    assert c.recall == 0.75
    assert c.f1 == 0.75
    assert c.fpr == pytest.approx(1 / 6)
    assert c.accuracy == 0.8
    assert c.as_dict() == {
        "tp": 3, "fp": 1, "tn": 5, "fn": 1, "precision": 0.75, "recall": 0.75, "f1": 0.75,
        "fpr": 1 / 6, "accuracy": 0.8,
    }  # fmt: skip


def test_f1_is_the_harmonic_mean() -> None:
    c = Confusion(tp=2, fp=2, tn=0, fn=0)
    assert (c.precision, c.recall, c.f1) == (0.5, 1.0, pytest.approx(2 / 3))


def test_zero_denominators_are_none_not_made_up() -> None:
    nothing_flagged = Confusion.of([False, False], [False, False])
    assert nothing_flagged.precision is None
    assert nothing_flagged.recall is None
    assert nothing_flagged.f1 is None
    assert nothing_flagged.fpr == 0.0
    assert Confusion().accuracy is None


def test_confusion_needs_pairs_of_equal_length() -> None:
    with pytest.raises(ValueError, match="zip"):
        Confusion.of([True], [True, False])


def test_category_rates() -> None:
    rates = category_rates(
        ["EMAIL", "EMAIL", "PHONE", "order", "order", None],
        [True, True, True, False, False, True],
        [True, False, False, True, False, True],
    )
    assert rates == {
        "EMAIL": {"n": 2, "recall": 0.5, "fpr": None},
        "PHONE": {"n": 1, "recall": 0.0, "fpr": None},
        "order": {"n": 2, "recall": None, "fpr": 0.5},
    }


def test_percentiles_interpolate_linearly() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 95) == pytest.approx(3.85)
    assert percentile(values, 99) == pytest.approx(3.97)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_percentile_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^percentile must be within 0\.\.100 \(got 101\)$"):
        percentile([1.0], 101)


def test_latency_summary_is_in_milliseconds() -> None:
    summary = latency_summary([0.001, 0.002, 0.003, 0.004])
    assert summary["min_ms"] == pytest.approx(1.0)
    assert summary["p50_ms"] == pytest.approx(2.5)
    assert summary["p95_ms"] == pytest.approx(3.85)
    assert summary["p99_ms"] == pytest.approx(3.97)
    assert summary["mean_ms"] == pytest.approx(2.5)
    assert summary["max_ms"] == pytest.approx(4.0)
    assert latency_summary([]) == {
        "min_ms": None, "p50_ms": None, "p95_ms": None, "p99_ms": None, "mean_ms": None,
        "max_ms": None,
    }  # fmt: skip


def test_roc_auc_counts_ties_half() -> None:
    # pairs (pos, neg): (.9,.4) win, (.9,.1) win, (.4,.4) tie, (.4,.1) win -> 3.5 / 4
    assert roc_auc([0.9, 0.4, 0.4, 0.1], [True, True, False, False]) == 0.875
    assert roc_auc([0.1, 0.9], [True, False]) == 0.0
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5
    assert roc_auc([0.1, 0.2], [True, True]) is None


def test_threshold_at_target_fpr() -> None:
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.2, 0.1]
    positives = [True, True, False, True, False, True, False, False]
    # >= 0.8: tp 2 fp 0; >= 0.7: fp 1/4; >= 0.6: tp 3 fp 1/4; >= 0.5: fp 2/4
    assert threshold_at_fpr(scores, positives, 0.0) == Operating(0.8, 0.5, 0.0)
    assert threshold_at_fpr(scores, positives, 0.25) == Operating(0.6, 0.75, 0.25)
    assert threshold_at_fpr(scores, positives, 1.0) == Operating(0.1, 1.0, 1.0)


def test_threshold_when_the_top_score_is_a_negative() -> None:
    found = threshold_at_fpr([0.9, 0.5], [False, True], 0.0)
    assert found == Operating(math.inf, 0.0, 0.0)


def test_threshold_target_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^target false-positive rate must be within 0\.\.1"):
        threshold_at_fpr([0.5], [True], 1.5)
