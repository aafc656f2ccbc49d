"""Draw docs/assets/window-timeline.svg: windows of C=4 new units with K=2 units of context.

Run ``python docs/assets/window_timeline.py`` after changing it; a test checks that the
committed SVG is what this script draws, so the picture cannot drift from its source.
"""

from __future__ import annotations

from pathlib import Path

C, K, UNITS = 4, 2, 14
CELL, LEFT, TOP, ROW = 34, 170, 30, 38
OUT = Path(__file__).with_name("window-timeline.svg")


def windows() -> list[tuple[int, int, int]]:
    """(first unit, first new unit, end) of each window, units counted from 0, half-open."""
    spans, new = [], 0
    while new < UNITS:
        end = min(new + C, UNITS)
        spans.append((max(new - K, 0), new, end))
        new = end
    return spans


def released_after(k: int, spans: list[tuple[int, int, int]]) -> tuple[int, int]:
    """Hold-back: after window k passes, its units are released except the last K (kept as
    context for window k+1); the last window releases everything it holds."""
    first = 0 if k == 0 else released_after(k - 1, spans)[1]
    end = spans[k][2] if k == len(spans) - 1 else spans[k][2] - K
    return first, end


def box(x: float, y: float, w: float, h: float, fill: str, text: str = "") -> str:
    label = (
        f'<text x="{x + w / 2}" y="{y + h / 2 + 4}" text-anchor="middle">{text}</text>'
        if text
        else ""
    )
    return (
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="3" fill="{fill}" '
        f'stroke="#445"/>{label}'
    )


def label(y: float, text: str) -> str:
    return f'<text x="8" y="{y + 16}" font-weight="bold">{text}</text>'


def draw() -> str:
    spans = windows()
    parts: list[str] = []
    y = TOP
    parts.append(label(y, "model emits units"))
    parts += [box(LEFT + u * CELL, y, CELL - 4, 24, "#dde8f8", str(u + 1)) for u in range(UNITS)]
    for k, (first, new, end) in enumerate(spans):
        y += ROW
        parts.append(label(y, f"window {k + 1}"))
        if new > first:
            parts.append(box(LEFT + first * CELL, y, (new - first) * CELL - 4, 24, "#eeeeee", "K"))
        parts.append(box(LEFT + new * CELL, y, (end - new) * CELL - 4, 24, "#ffe6a8", "C new"))
        first_out, end_out = released_after(k, spans)
        parts.append(
            f'<text x="{LEFT + end * CELL + 6}" y="{y + 16}">w{k + 1} passed: hold-back releases '
            f"units {first_out + 1}-{end_out}</text>"
        )
    y += ROW + 8
    parts.append(label(y, "stream_first: true"))
    parts.append(
        box(LEFT, y, UNITS * CELL - 4, 24, "#c8ecc8", "every unit on arrival; checks follow")
    )
    y += ROW
    parts.append(label(y, "hold-back"))
    for k in range(len(spans)):
        first, end = released_after(k, spans)
        if end > first:
            parts.append(box(LEFT + first * CELL, y, (end - first) * CELL - 4, 24, "#c8ecc8",
                             f"after w{k + 1}"))  # fmt: skip
    width = LEFT + UNITS * CELL + 300
    height = y + 40
    body = "\n".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">\n'
        f"<title>Windows of C={C} new units with K={K} units of context, and when each mode "
        f"releases them</title>\n"
        f'<rect width="{width}" height="{height}" fill="white"/>\n{body}\n</svg>\n'
    )


if __name__ == "__main__":
    OUT.write_text(draw(), encoding="utf-8")
