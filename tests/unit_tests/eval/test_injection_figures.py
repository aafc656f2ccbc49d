"""The cross-corpus table of docs/rails/prompt-injection.md is what ``make injection-figures``
prints, and its leave-one-source-out scores never come from a model that saw their source."""

from __future__ import annotations

from pathlib import Path

from langchain_guardrails.eval.injection_figures import (
    Scored,
    figures,
    recall_at_fpr,
    report,
)
from langchain_guardrails.eval.injection_train import Sample

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "rails" / "prompt-injection.md"
START, END = "<!-- injection-figures:start -->", "<!-- injection-figures:end -->"


def test_the_published_table_is_what_the_command_prints() -> None:
    text = PAGE.read_text(encoding="utf-8")
    published = text[text.index(START) + len(START) : text.index(END)].strip()
    assert published == report().strip()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-m langchain_guardrails.eval.injection_figures" in makefile
    assert "-m langchain_guardrails.eval.injection_train" in makefile


def scored(block: bool, score: float, threshold: float = 0.5) -> Scored:
    return Scored(Sample("t", block, "s", "c", "input"), score, threshold)


def test_figures_and_recall_at_fpr_count_exactly() -> None:
    rows = [
        scored(True, 0.9),
        scored(True, 0.6),
        scored(True, 0.2),
        scored(False, 0.7),
        *[scored(False, 0.1 * i / 20) for i in range(19)],
    ]
    f = figures(rows)
    assert (f.examples, f.recall, f.fpr, f.precision) == (23, 2 / 3, 1 / 20, 2 / 3)
    assert round(f.f1, 6) == round(2 / 3, 6)
    # At FPR <= 0.05 one of the 20 benign scores may block: the cut sits at the second highest.
    recall, fpr, f1 = recall_at_fpr(rows)
    assert (recall, fpr) == (1.0, 1 / 20)
    assert round(f1, 6) == round(2 * 0.75 * 1.0 / 1.75, 6)
