"""Render evaluation figures: a text (or Markdown) table, and an HTML page with plots.

Renderers take the JSON-ready dict of a run (``{"reports", "skipped", "sweeps", "stream"}``),
so ``--json`` output and the tables always agree.

Example:
    .. code-block:: python

        print(render_text(figures))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_guardrails.eval.runner import OVERALL

COLUMNS = ("stage", "rail", "n", "TP", "FP", "TN", "FN", "precision", "recall", "F1", "FPR")
COSTS = ("p50 ms", "p95 ms", "p99 ms", "tokens/check")


def fmt(value: Any, digits: int = 3) -> str:
    """A figure as text: ``-`` for ``None``, floats rounded to ``digits``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool = False) -> str:
    """Aligned columns, or a Markdown table.

    Example:
        .. code-block:: python

            table(["a", "b"], [["1", "2"]], markdown=True)  # "| a | b |\\n|---|---|\\n| 1 | 2 |"
    """
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def quality_rows(reports: Sequence[Mapping[str, Any]], *, costs: bool = True) -> list[list[str]]:
    """One row per rail report (``COLUMNS`` then, with ``costs``, ``COSTS``)."""
    rows = []
    for r in reports:
        row = [r["stage"], r["rail"], fmt(r["n"]), fmt(r["tp"]), fmt(r["fp"]), fmt(r["tn"])]
        row += [fmt(r["fn"]), fmt(r["precision"]), fmt(r["recall"]), fmt(r["f1"]), fmt(r["fpr"])]
        if costs:
            latency = r["latency"]
            row += [fmt(latency["p50_ms"], 2), fmt(latency["p95_ms"], 2)]
            row += [fmt(latency["p99_ms"], 2), fmt(r["tokens"]["per_check"], 1)]
        rows.append(row)
    return rows


def render_text(
    figures: Mapping[str, Any], *, markdown: bool = False, main_table: bool = True
) -> str:
    """The whole report as text (``markdown=True``: Markdown tables; ``main_table=False``:
    the details only).

    Example:
        .. code-block:: python

            print(render_text(result.as_dict(show_errors=5)))
    """
    parts = []
    reports = figures.get("reports", [])
    if reports and main_table:
        parts.append(table([*COLUMNS, *COSTS], quality_rows(reports), markdown=markdown))
    # A stage with one rail has the same figures under its name and as "(all rails)".
    detailed = [r for r in reports if not is_duplicate(r, reports)]
    for r in detailed:
        if r["categories"]:
            rows = [
                [name, fmt(c["n"]), fmt(c["recall"]), fmt(c["fpr"])]
                for name, c in r["categories"].items()
            ]
            title = f"per category: {r['stage']} / {r['rail']}"
            header = ["category", "n", "recall", "FPR"]
            parts.append(f"{title}\n{table(header, rows, markdown=markdown)}")
    for r in detailed:
        if r["errors"]:
            wrong = r["fp"] + r["fn"]
            lines = [f"wrong examples: {r['stage']} / {r['rail']} ({len(r['errors'])} of {wrong})"]
            for e in r["errors"]:
                category = f" [{e['category']}]" if e.get("category") else ""
                lines.append(
                    f"  line {e['line']}{category}: label {e['label']}, got {e['got']}"
                    + (f" by {e['rail']}" if e["rail"] else "")
                    + f": {_short(e['text'])}"
                )
            parts.append("\n".join(lines))
    cascades = [r for r in reports if "cascade" in r]
    if cascades:
        parts.append(render_cascades(cascades, markdown=markdown))
    for stage, why in figures.get("skipped", {}).items():
        parts.append(f"stage {stage}: {why}")
    if figures.get("sweeps") is not None:
        parts.append(render_sweeps(figures["sweeps"], markdown=markdown))
    if figures.get("stream") is not None:
        parts.append(render_stream(figures["stream"], markdown=markdown))
    return "\n\n".join(parts)


def render_cascades(reports: Sequence[Mapping[str, Any]], *, markdown: bool = False) -> str:
    """The cascades table: share of examples escalated, LLM calls and tokens against the judge
    alone (measured on the same examples)."""
    header = ["stage", "rail", "n", "escalated", "share", "LLM calls", "judge alone"]
    header += ["calls saved", "tokens", "judge alone tokens", "tokens saved"]
    rows = []
    for r in reports:
        c = r["cascade"]
        rows.append(
            [
                r["stage"], r["rail"], fmt(r["n"]), fmt(c["escalated"]),
                fmt(c["share_escalated"]), fmt(c["llm_calls"]), fmt(c["judge_alone_llm_calls"]),
                fmt(c["llm_calls_saved"]), fmt(c["tokens"]), fmt(c["judge_alone_tokens"]),
                fmt(c["tokens_saved"]),
            ]
        )  # fmt: skip
    return "cascades (against the judge alone)\n" + table(header, rows, markdown=markdown)


def render_sweeps(sweeps: Sequence[Mapping[str, Any]], *, markdown: bool = False) -> str:
    """The ``--sweep`` table."""
    if not sweeps:
        return "sweep: no rail of this config gives a score"
    header = ["stage", "rail", "score", "scored", "ROC AUC", "target FPR", "threshold"]
    header += ["recall", "FPR", "current threshold"]
    rows = [
        [
            s["stage"], s["rail"], s["score"], fmt(s["n_scored"]), fmt(s["roc_auc"]),
            fmt(s["target_fpr"]), fmt(s["threshold"], 4), fmt(s["recall_at_threshold"]),
            fmt(s["fpr_at_threshold"]), fmt(s["current_threshold"], 4),
        ]
        for s in sweeps
    ]  # fmt: skip
    return table(header, rows, markdown=markdown)


def render_stream(stream: Mapping[str, Any], *, markdown: bool = False) -> str:
    """The ``--stream`` table and the disagreements."""
    if stream.get("skipped"):
        return f"stream: {stream['skipped']}"
    header = ["mode", "unit", "n", "agreement", "whole blocked", "stream blocked"]
    header += ["leak mean chars", "leak max chars"]
    rows, notes = [], []
    for m in stream["modes"]:
        mode = "stream_first" if m["stream_first"] else "hold-back"
        if m["unavailable"]:
            notes.append(f"{mode}: not available with this config: {m['unavailable']}")
            continue
        rows.append(
            [
                mode, stream["unit"], fmt(m["n"]), fmt(m["agreement"]), fmt(m["whole_blocked"]),
                fmt(m["stream_blocked"]), fmt(m["leak_mean_chars"], 1), fmt(m["leak_max_chars"]),
            ]
        )  # fmt: skip
        for e in m["examples"]:
            if not e["agrees"]:
                stream_verdict = "blocked" if e["stream_blocked"] else "passed"
                whole_verdict = "blocked" if e["whole_blocked"] else "passed"
                notes.append(
                    f"{mode}: line {e['line']} streamed {stream_verdict}, whole text "
                    f"{whole_verdict}"
                )
    text = table(header, rows, markdown=markdown) if rows else "stream: no mode could run"
    return "\n".join([text, *notes])


def is_duplicate(report: Mapping[str, Any], reports: Sequence[Mapping[str, Any]]) -> bool:
    """An "(all rails)" report of a stage that has a single rail (a cascade's judge measured
    alone is not one of the stage's rails)."""
    if report["rail"] != OVERALL:
        return False
    rails = [r for r in reports if r["stage"] == report["stage"] and r["rail"] != OVERALL]
    return sum(1 for r in rails if "judge_of" not in r) == 1


def _short(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


__all__ = [
    "fmt",
    "is_duplicate",
    "quality_rows",
    "render_cascades",
    "render_stream",
    "render_sweeps",
    "render_text",
    "table",
]
