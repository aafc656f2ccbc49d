"""``--html``: the report as one self-contained HTML page, with a confusion-matrix plot per
stage and a latency plot when matplotlib is installed (``eval`` extra).

Example:
    .. code-block:: python

        Path("report.html").write_text(render_html(figures), encoding="utf-8")
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_guardrails.eval.report import (
    COLUMNS,
    COSTS,
    quality_rows,
    render_stream,
    render_sweeps,
)
from langchain_guardrails.eval.runner import OVERALL

NO_PLOTS = (
    "Plots need matplotlib: pip install 'langchain-stream-guardrails[eval]'. "
    "The figures above are complete without them."
)


def render_html(figures: Mapping[str, Any], *, title: str = "langchain-guardrails eval") -> str:
    """One HTML page: the tables (all text escaped) and, with matplotlib, the plots.

    Example:
        .. code-block:: python

            page = render_html(result.as_dict(show_errors=10))
    """
    reports = figures.get("reports", [])
    body = [f"<h1>{html.escape(title)}</h1>"]
    if reports:
        body.append(_table([*COLUMNS, *COSTS], quality_rows(reports)))
    for stage, why in figures.get("skipped", {}).items():
        body.append(f"<p>stage {html.escape(stage)}: {html.escape(why)}</p>")
    for r in reports:
        if r["errors"]:
            rows = [
                [str(e["line"]), e["label"], e["got"], e["rail"] or "", e["text"]]
                for e in r["errors"]
            ]
            where = html.escape(f"{r['stage']} / {r['rail']}")
            body.append(f"<h3>Wrong examples: {where}</h3>")
            body.append(_table(["line", "label", "got", "rail", "text"], rows))
    if figures.get("sweeps") is not None:
        body.append(f"<h2>Sweep</h2><pre>{html.escape(render_sweeps(figures['sweeps']))}</pre>")
    if figures.get("stream") is not None:
        body.append(f"<h2>Streaming</h2><pre>{html.escape(render_stream(figures['stream']))}</pre>")
    body.append("<h2>Plots</h2>")
    images = plots(reports)
    if images is None:
        body.append(f"<p>{html.escape(NO_PLOTS)}</p>")
    else:
        body += [f'<img alt="{html.escape(n)}" src="data:image/png;base64,{d}">' for n, d in images]
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )


def plots(reports: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]] | None:
    """``(name, base64 PNG)`` of each plot; ``None`` when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    images = []
    for r in reports:
        if r["rail"] != OVERALL:
            continue
        figure, axes = plt.subplots(figsize=(3.5, 3))
        cells = [[r["tp"], r["fn"]], [r["fp"], r["tn"]]]
        axes.imshow(cells, cmap="Blues")
        for i in range(2):
            for j in range(2):
                axes.text(j, i, str(cells[i][j]), ha="center", va="center")
        axes.set_xticks([0, 1], ["flagged", "passed"])
        axes.set_yticks([0, 1], ["block", "allow"])
        axes.set_title(f"{r['stage']} rails: confusion matrix")
        images.append((f"confusion {r['stage']}", _png(figure, plt)))
    if reports:
        figure, axes = plt.subplots(figsize=(7, 0.5 + 0.4 * len(reports)))
        labels = [f"{r['stage']} / {r['rail']}" for r in reports]
        for index, key in enumerate(("p50_ms", "p95_ms", "p99_ms")):
            values = [r["latency"][key] or 0.0 for r in reports]
            positions = [i + (index - 1) * 0.25 for i in range(len(reports))]
            axes.barh(positions, values, height=0.25, label=key.replace("_ms", ""))
        axes.set_yticks(range(len(reports)), labels)
        axes.set_xlabel("latency per check (ms)")
        axes.legend()
        images.append(("latency", _png(figure, plt)))
    return images


def _png(figure: Any, plt: Any) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{cells}</table>"


__all__ = ["NO_PLOTS", "plots", "render_html"]
