"""The report's HTML tables: a confusion matrix per rail and per stage, the per-category
recall / FPR table and the misclassified examples (collapsed in ``<details>``).

Every text from the figures (rail names, categories, dataset examples) is escaped. Each
element carries ``data-*`` attributes (stage, rail, cell, category) so the page can be tested
and scripted without parsing its layout.

Example:
    .. code-block:: python

        html = confusion_card(report)  # <figure class="matrix" data-stage=...>...</figure>
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_guardrails.eval.html.scales import shade, text_colour
from langchain_guardrails.eval.report import fmt, is_duplicate
from langchain_guardrails.eval.runner import OVERALL

CELLS = (
    ("block", (("tp", "flagged"), ("fn", "passed"))),
    ("allow", (("fp", "flagged"), ("tn", "passed"))),
)
"""Rows (the label) and columns (what the rails did) of a matrix, with each cell's key."""


def esc(value: Any) -> str:
    """``value`` as escaped HTML text (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` as ``37.5%``, ``-`` when ``whole`` is 0."""
    return f"{100 * part / whole:.1f}%" if whole else "-"


def title_of(report: Mapping[str, Any]) -> str:
    """``stage / rail``, or ``stage: all rails`` for a stage's total."""
    if report["rail"] == OVERALL:
        return f"{report['stage']}: all rails"
    return f"{report['stage']} / {report['rail']}"


def confusion_card(report: Mapping[str, Any], *, single_rail: bool = False) -> str:
    """One rail's 2x2 matrix: rows are the labels, columns the verdicts; each cell shows its
    count and its share of the row (so the diagonal reads as recall and 1 - FPR), shaded by
    that share with a text colour that stays readable.

    Example:
        .. code-block:: python

            confusion_card(result.as_dict()["reports"][0])
    """
    head = "<tr><th></th><th>flagged</th><th>passed</th></tr>"
    rows = []
    for label, cells in CELLS:
        whole = sum(int(report[key]) for key, _ in cells)
        tds = []
        for key, verdict in cells:
            count = int(report[key])
            background = shade(count / whole if whole else 0.0)
            style = f"background:{background};color:{text_colour(background)}"
            tds.append(
                f'<td class="cell" data-cell="{key}" data-count="{count}" '
                f'title="label {label}, {verdict}: {count} of {whole}" style="{style}">'
                f'<span class="count">{count}</span>'
                f'<span class="share">{percent(count, whole)}</span></td>'
            )
        rows.append(f'<tr><th scope="row">label {label}</th>{"".join(tds)}</tr>')
    note = " (the stage's only rail)" if single_rail else ""
    n = sum(int(report[key]) for key in ("tp", "fp", "tn", "fn"))
    figures = (
        f"recall {fmt(report['recall'])} · FPR {fmt(report['fpr'])} · "
        f"precision {fmt(report['precision'])} · n {n}"
    )
    return (
        f'<figure class="matrix" data-stage="{esc(report["stage"])}" '
        f'data-rail="{esc(report["rail"])}"><figcaption>{esc(title_of(report))}{note}'
        f"</figcaption><table>{head}{''.join(rows)}</table>"
        f'<p class="figures">{esc(figures)}</p></figure>'
    )


def matrices(reports: Sequence[Mapping[str, Any]]) -> str:
    """Per stage, its total matrix first, then one per rail (a stage with one rail: one
    matrix, marked as the stage's only rail)."""
    stages: dict[str, list[Mapping[str, Any]]] = {}
    for r in reports:
        stages.setdefault(r["stage"], []).append(r)
    parts = []
    for stage, group in stages.items():
        shown = [r for r in group if not is_duplicate(r, reports)]
        ordered = [r for r in shown if r["rail"] == OVERALL] + [
            r for r in shown if r["rail"] != OVERALL
        ]
        single = len(shown) == 1
        cards = "".join(confusion_card(r, single_rail=single) for r in ordered)
        parts.append(
            f'<section class="stage" data-stage="{esc(stage)}"><h3>{esc(stage)}</h3>'
            f'<div class="cards">{cards}</div></section>'
        )
    return "".join(parts)


def category_tables(reports: Sequence[Mapping[str, Any]]) -> str:
    """Per rail with categories: ``category, n, recall, FPR`` with a bar for each rate."""
    parts = []
    for r in reports:
        if not r["categories"] or is_duplicate(r, reports):
            continue
        rows = []
        for name, c in r["categories"].items():
            rows.append(
                f'<tr data-category="{esc(name)}"><td>{esc(name)}</td><td class="num">{c["n"]}'
                f"</td>{_rate_cell(c['recall'], 'recall')}{_rate_cell(c['fpr'], 'fpr')}</tr>"
            )
        parts.append(
            f'<table class="categories" data-stage="{esc(r["stage"])}" '
            f'data-rail="{esc(r["rail"])}"><caption>{esc(title_of(r))}</caption>'
            "<tr><th>category</th><th>n</th><th>recall</th><th>FPR</th></tr>"
            f"{''.join(rows)}</table>"
        )
    return "".join(parts)


def _rate_cell(value: float | None, kind: str) -> str:
    if value is None:
        return f'<td class="rate" data-{kind}="-">-</td>'
    width = round(100 * value, 1)
    return (
        f'<td class="rate {kind}" data-{kind}="{fmt(value)}"><span class="bar" '
        f'style="width:{width}%"></span><span class="value">{fmt(value)}</span></td>'
    )


def misclassified(reports: Sequence[Mapping[str, Any]]) -> str:
    """Per rail, its wrong examples in a collapsed ``<details>``: line, id, category, label,
    what the rails did (and which rail) and the example's text."""
    parts = []
    for r in reports:
        wrong = int(r["fp"]) + int(r["fn"])
        if not wrong or is_duplicate(r, reports):
            continue
        listed = r["errors"]
        shown = f"{len(listed)} of {wrong}" if len(listed) < wrong else f"{wrong}"
        rows = "".join(
            f'<tr class="wrong" data-line="{e["line"]}"><td class="num">{e["line"]}</td>'
            f"<td>{esc(e['id'] or '')}</td><td>{esc(e['category'] or '')}</td>"
            f"<td>{esc(e['label'])}</td><td>{esc(e['got'])}"
            f"{' by ' + esc(e['rail']) if e['rail'] else ''}</td>"
            f'<td class="text">{esc(e["text"])}</td></tr>'
            for e in listed
        )
        table = (
            "<table><tr><th>line</th><th>id</th><th>category</th><th>label</th><th>got</th>"
            f"<th>text</th></tr>{rows}</table>"
            if listed
            else "<p>not listed: the figures were made without the examples</p>"
        )
        parts.append(
            f'<details class="misclassified" data-stage="{esc(r["stage"])}" '
            f'data-rail="{esc(r["rail"])}"><summary>{esc(title_of(r))}: {shown} misclassified '
            f"(missed {r['fn']}, false alarms {r['fp']})</summary>{table}</details>"
        )
    return "".join(parts) or "<p>No misclassified examples.</p>"


__all__ = [
    "CELLS",
    "category_tables",
    "confusion_card",
    "esc",
    "matrices",
    "misclassified",
    "percent",
    "title_of",
]
