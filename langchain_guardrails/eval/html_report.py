"""``--html``: the report as one self-contained HTML page (the console's eval page embeds it):
the figures table, a confusion matrix per stage and per rail, per-category recall / FPR, the
misclassified examples (collapsed), latency per rail on a log axis, the sweep and the
streaming replay as a chart.

The page has inline CSS and inline SVG only: no script, no external file, no font to fetch, so
it renders offline, from a file or inside an ``<iframe srcdoc>``. All text from the figures is
escaped; it shows the dataset's own examples, nothing else.

Example:
    .. code-block:: python

        Path("report.html").write_text(render_html(result.as_dict(show_errors=None)))
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_guardrails.eval.html.charts import latency_chart, stream_chart
from langchain_guardrails.eval.html.tables import category_tables, matrices, misclassified
from langchain_guardrails.eval.report import (
    COLUMNS,
    COSTS,
    quality_rows,
    render_stream,
    render_sweeps,
)

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111;
background:#fff;margin:1.5em;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.4em 0 1em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
td.num{text-align:right}caption{text-align:left;font-weight:600;padding:.2em 0}
.cards,.flow{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
section.stage h3{margin:.2em 0 .4em}
figure.matrix{margin:0;border:1px solid #ddd;border-radius:6px;padding:.6em}
figure.matrix figcaption{font-weight:600;margin-bottom:.3em}
td.cell{width:6.5em;height:3.2em;text-align:center;vertical-align:middle}
td.cell .count{display:block;font-size:1.35em;font-weight:700}
td.cell .share{display:block;font-size:.85em}
p.figures{margin:.3em 0 0;font-size:.85em;color:#444}
td.rate{position:relative;min-width:7em}
td.rate .bar{position:absolute;left:0;top:2px;bottom:2px;background:#c6dbef}
td.rate.fpr .bar{background:#fbd5b5}td.rate .value{position:relative}
details{margin:.4em 0}summary{cursor:pointer;font-weight:600}td.text{white-space:pre-wrap}
pre{background:#f6f8fa;padding:.6em;overflow:auto}svg{max-width:100%;height:auto}
"""
"""The page's only styles (inline: no stylesheet to fetch)."""


def render_html(figures: Mapping[str, Any], *, title: str = "langchain-guardrails eval") -> str:
    """One self-contained HTML page of the figures of an eval run (``EvalResult.as_dict``,
    with ``"sweeps"`` and ``"stream"`` when measured, or ``"streams"`` by dataset name).

    Pass ``result.as_dict(show_errors=None)`` to list every misclassified example; with a
    limit the page says how many it lists.

    Example:
        .. code-block:: python

            page = render_html(result.as_dict(show_errors=None), title="my rails")
    """
    reports: Sequence[Mapping[str, Any]] = figures.get("reports", [])
    body = [f"<h1>{html.escape(title)}</h1>"]
    if reports:
        body.append(_table([*COLUMNS, *COSTS], quality_rows(reports)))
    for stage, why in figures.get("skipped", {}).items():
        body.append(f'<p class="skipped">stage {html.escape(stage)}: {html.escape(why)}</p>')
    if reports:
        body.append(
            "<h2>Confusion matrices</h2><p>Rows are the labels, columns what the rails did; "
            "a cell shows its count and its share of the row, and is darker the larger that "
            "share. Read the diagonal: <em>label block, flagged</em> is the recall, "
            "<em>label allow, flagged</em> the false-positive rate.</p>"
        )
        body.append(f'<div class="flow">{matrices(reports)}</div>')
        categories = category_tables(reports)
        if categories:
            body.append(f'<h2>Per category</h2><div class="flow">{categories}</div>')
        body.append(f"<h2>Misclassified examples</h2>{misclassified(reports)}")
        chart = latency_chart(reports)
        if chart:
            body.append(f'<h2>Latency per check</h2><div class="chart">{chart}</div>')
    if figures.get("sweeps") is not None:
        body.append(f"<h2>Sweep</h2><pre>{html.escape(render_sweeps(figures['sweeps']))}</pre>")
    streams = dict(figures.get("streams") or {})
    if figures.get("stream") is not None:
        streams = {"": figures["stream"], **streams}
    for name, stream in streams.items():
        body.append(_stream_section(name, stream))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def _stream_section(name: str, stream: Mapping[str, Any]) -> str:
    heading = "Streaming replay" + (f": {name}" if name else "")
    chart = "" if stream.get("skipped") else stream_chart(stream)
    return (
        f'<h2>{html.escape(heading)}</h2><div class="chart">{chart}</div>'
        f"<pre>{html.escape(render_stream(stream))}</pre>"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="summary"><tr>{head}</tr>{cells}</table>'


__all__ = ["STYLE", "render_html"]
