"""The report's charts, drawn as inline SVG: latency per rail on a log axis with p50 / p95
marks, and the streaming replay (verdict agreement, leak before block) per mode.

Positions are rounded to 0.1 px and every mark carries its figure in ``data-*`` attributes,
so a test can check a chart without rendering it.

Example:
    .. code-block:: python

        svg = latency_chart(figures["reports"])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_guardrails.eval.html.scales import LogScale, text_colour
from langchain_guardrails.eval.html.tables import esc, percent, title_of
from langchain_guardrails.eval.report import fmt, is_duplicate

LABEL_WIDTH = 300.0
"""Room for ``stage / rail`` left of the plot."""
LABEL_CHARS = 44
"""Characters of a label that fit in ``LABEL_WIDTH`` at 12 px."""
PLOT_WIDTH = 440.0
VALUES_WIDTH = 200.0
"""Room right of the plot for each rail's p50 and p95 in figures."""
ROW = 30.0
TOP = 10.0
AXIS = 36.0
"""Room under the rows for the tick labels and the axis title."""
VERDICTS = (
    ("both_blocked", "both blocked", "#2b6cb0"),
    ("both_passed", "both passed", "#a0c4e8"),
    ("stream_only", "blocked only when streamed", "#dd6b20"),
    ("whole_only", "blocked only as whole text", "#c53030"),
)
"""Segments of a mode's agreement bar: key, legend, colour."""


def _svg(width: float, height: float, label: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{esc(label)}" '
        f'width="{width:g}" height="{height:g}" viewBox="0 0 {width:g} {height:g}">{body}</svg>'
    )


def clip(label: str, limit: int = LABEL_CHARS) -> str:
    """``label`` cut to ``limit`` characters with an ellipsis (the full name is in the row's
    tooltip)."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def latency_rows(reports: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The reports drawn on the latency chart: those with timings, less a single-rail stage's
    duplicate total."""
    return [
        r for r in reports if r["latency"]["p50_ms"] is not None and not is_duplicate(r, reports)
    ]


def latency_chart(reports: Sequence[Mapping[str, Any]]) -> str:
    """Per rail: a line from the fastest to the slowest check, a box from p50 to p95 and a
    mark at each, on one log axis in whole decades of milliseconds; ``""`` without timings.

    Example:
        .. code-block:: python

            latency_chart(reports).count('class="p50"')  # one per rail
    """
    rows = latency_rows(reports)
    if not rows:
        return ""
    values = [r["latency"][k] for r in rows for k in ("min_ms", "p50_ms", "p95_ms", "max_ms")]
    scale = LogScale.spanning(values, x0=LABEL_WIDTH, width=PLOT_WIDTH)
    bottom = TOP + ROW * len(rows)
    parts = []
    for x, label in scale.ticks():
        parts.append(
            f'<line class="grid" x1="{x:g}" y1="{TOP:g}" x2="{x:g}" y2="{bottom:g}" '
            'stroke="#ddd"/>'
            f'<text class="tick" x="{x:g}" y="{bottom + 14:g}" text-anchor="middle" '
            f'font-size="11">{esc(label)}</text>'
        )
    for index, r in enumerate(rows):
        latency = r["latency"]
        y = TOP + ROW * index + ROW / 2
        low = latency["min_ms"] if latency.get("min_ms") is not None else latency["p50_ms"]
        high = latency["max_ms"] if latency.get("max_ms") is not None else latency["p95_ms"]
        x50, x95 = scale.x(latency["p50_ms"]), scale.x(latency["p95_ms"])
        summary = f"p50 {fmt(latency['p50_ms'], 2)} ms, p95 {fmt(latency['p95_ms'], 2)} ms"
        parts.append(
            f'<g class="rail" data-stage="{esc(r["stage"])}" data-rail="{esc(r["rail"])}">'
            f"<title>{esc(title_of(r))}: {esc(summary)}, min {fmt(low, 2)} ms, "
            f"max {fmt(high, 2)} ms</title>"
            f'<text x="{LABEL_WIDTH - 8:g}" y="{y + 4:g}" text-anchor="end" font-size="12">'
            f"{esc(clip(title_of(r)))}</text>"
            f'<line class="range" x1="{scale.x(low):g}" y1="{y:g}" x2="{scale.x(high):g}" '
            f'y2="{y:g}" stroke="#888"/>'
            f'<rect class="spread" x="{x50:g}" y="{y - 6:g}" width="{round(x95 - x50, 1):g}" '
            f'height="12" fill="#a0c4e8"/>'
            f'<line class="p50" data-ms="{fmt(latency["p50_ms"], 2)}" x1="{x50:g}" '
            f'y1="{y - 9:g}" x2="{x50:g}" y2="{y + 9:g}" stroke="#08306b" stroke-width="3"/>'
            f'<line class="p95" data-ms="{fmt(latency["p95_ms"], 2)}" x1="{x95:g}" '
            f'y1="{y - 9:g}" x2="{x95:g}" y2="{y + 9:g}" stroke="#c53030" stroke-width="3"/>'
            f'<text class="values" x="{LABEL_WIDTH + PLOT_WIDTH + 14:g}" y="{y + 4:g}" '
            f'font-size="11">{esc(summary)}</text></g>'
        )
    middle = LABEL_WIDTH + PLOT_WIDTH / 2
    parts.append(
        f'<text x="{middle:g}" y="{bottom + 30:g}" text-anchor="middle" font-size="11">'
        "ms per check, log scale: line min to max, box p50 to p95 (dark mark p50, red p95)"
        "</text>"
    )
    width = LABEL_WIDTH + PLOT_WIDTH + VALUES_WIDTH
    return _svg(width, bottom + AXIS, "latency per rail, log scale", "".join(parts))


def verdict_counts(mode: Mapping[str, Any]) -> dict[str, int]:
    """A mode's examples by (whole-text verdict, streamed verdict)."""
    counts = dict.fromkeys((key for key, _, _ in VERDICTS), 0)
    for e in mode["examples"]:
        whole, streamed = e["whole_blocked"], e["stream_blocked"]
        key = (
            ("both_blocked" if streamed else "whole_only")
            if whole
            else ("stream_only" if streamed else "both_passed")
        )
        counts[key] += 1
    return counts


def stream_chart(stream: Mapping[str, Any]) -> str:
    """Per mode that ran: a bar of its examples split by (whole, streamed) verdict, the
    agreement, and bars of the mean and max characters released before a block (on one
    linear scale across modes); ``""`` when nothing ran."""
    modes = [m for m in stream["modes"] if not m["unavailable"] and m["n"]]
    if not modes:
        return ""
    bar_x, bar_width = 130.0, 440.0
    most = max([m["leak_max_chars"] or 0 for m in modes] + [1])
    parts = []
    y = TOP
    for m in modes:
        name = "stream_first" if m["stream_first"] else "hold-back"
        counts = verdict_counts(m)
        agreement = percent(counts["both_blocked"] + counts["both_passed"], m["n"])
        segments, x = [], bar_x
        for key, legend, colour in VERDICTS:
            width = round(bar_width * counts[key] / m["n"], 1)
            if counts[key]:
                segments.append(
                    f'<rect class="verdict" data-verdict="{key}" data-count="{counts[key]}" '
                    f'x="{x:g}" y="{y:g}" width="{width:g}" height="18" fill="{colour}">'
                    f"<title>{esc(legend)}: {counts[key]}</title></rect>"
                )
                if width >= 18:
                    segments.append(
                        f'<text x="{x + width / 2:g}" y="{y + 13:g}" text-anchor="middle" '
                        f'font-size="11" fill="{text_colour(colour)}">{counts[key]}</text>'
                    )
            x = round(x + width, 1)
        leaks = []
        for offset, key, what in ((24, "leak_mean_chars", "mean"), (40, "leak_max_chars", "max")):
            value = m[key]
            width = round(bar_width * (value or 0) / most, 1)
            leaks.append(
                f'<text x="{bar_x - 8:g}" y="{y + offset + 10:g}" text-anchor="end" '
                f'font-size="11">leak {what}</text>'
                f'<rect class="leak" data-leak="{what}" data-chars="{fmt(value, 1)}" '
                f'x="{bar_x:g}" y="{y + offset:g}" width="{width:g}" height="12" fill="#dd6b20"/>'
                f'<text x="{bar_x + width + 4:g}" y="{y + offset + 10:g}" font-size="11">'
                f"{fmt(value, 1)} chars</text>"
            )
        parts.append(
            f'<g class="mode" data-mode="{name}" data-agreement="{agreement}">'
            f'<text x="{bar_x - 8:g}" y="{y + 13:g}" text-anchor="end" font-size="12" '
            f'font-weight="bold">{name}</text>{"".join(segments)}'
            f'<text x="{bar_x + bar_width + 6:g}" y="{y + 13:g}" font-size="11">'
            f"agree {agreement}</text>{''.join(leaks)}</g>"
        )
        y += 66
    keys: list[str] = []
    x = 10.0
    for _, label, colour in VERDICTS:
        keys.append(
            f'<rect x="{x:g}" y="{y:g}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14:g}" y="{y + 9:g}" font-size="11">{esc(label)}</text>'
        )
        x += 14 + 7 * len(label) + 14
    height = y + 20
    return _svg(
        bar_x + bar_width + 90,
        height,
        "streaming replay: verdict agreement and leak before block",
        "".join(parts) + "".join(keys),
    )


__all__ = ["VERDICTS", "clip", "latency_chart", "latency_rows", "stream_chart", "verdict_counts"]
