"""Scales of the eval report: a colour ramp for matrix cells with a readable text colour on
every shade, and a base-10 log axis for latencies.

Example:
    .. code-block:: python

        shade(1.0), text_colour(shade(1.0))  # ("#08306b", "#ffffff")
        LogScale.spanning([0.05, 190.0], x0=0.0, width=300.0).ticks()
        # [(0.0, "0.01 ms"), (60.0, "0.1 ms"), ..., (300.0, "1000 ms")]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

LIGHT = (247, 251, 255)
DARK = (8, 48, 107)
"""The two ends of the ramp (matplotlib's "Blues")."""
WHITE = "#ffffff"
INK = "#111111"


def shade(share: float) -> str:
    """The ramp's colour for ``share`` (0..1, clamped) as ``#rrggbb``.

    Example:
        .. code-block:: python

            shade(0.0)  # "#f7fbff"
    """
    share = min(max(share, 0.0), 1.0)
    channels = (round(a + (b - a) * share) for a, b in zip(LIGHT, DARK, strict=True))
    return "#" + "".join(f"{c:02x}" for c in channels)


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    linear = []
    for i in (1, 3, 5):
        c = int(colour[i : i + 2], 16) / 255
        linear.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_colour(background: str) -> str:
    """White or near-black, whichever contrasts more with ``background`` (WCAG ratio): counts
    stay readable on the darkest cells.

    Example:
        .. code-block:: python

            text_colour("#08306b"), text_colour("#f7fbff")  # ("#ffffff", "#111111")
    """
    lum = luminance(background)
    on_white = (1.05) / (lum + 0.05)
    on_ink = (lum + 0.05) / (luminance(INK) + 0.05)
    return WHITE if on_white >= on_ink else INK


def ms_label(value: float) -> str:
    """A decade of milliseconds as a tick label: ``0.01 ms``, ``1 ms``, ``100 ms``."""
    return f"{value:g} ms" if value < 1 else f"{round(value)} ms"


@dataclass(frozen=True, slots=True)
class LogScale:
    """Milliseconds to x pixels on a base-10 log axis from ``10**low`` to ``10**high``, so a
    rail of 0.05 ms and one of 190 ms are both readable on one chart."""

    low: int
    """Exponent of the left end."""
    high: int
    """Exponent of the right end (``> low``)."""
    x0: float
    width: float

    @classmethod
    def spanning(cls, values: Iterable[float | None], *, x0: float, width: float) -> LogScale:
        """The smallest whole-decade axis holding every positive value (one decade at least).

        Example:
            .. code-block:: python

                LogScale.spanning([0.09, 14.8], x0=0, width=100)  # decades 0.01 .. 100
        """
        positive = [v for v in values if v is not None and v > 0]
        if not positive:
            return cls(0, 1, x0, width)
        low = math.floor(math.log10(min(positive)))
        high = math.ceil(math.log10(max(positive)))
        return cls(low, max(high, low + 1), x0, width)

    def x(self, value: float) -> float:
        """Pixel position of ``value`` ms; values under the axis (0 included) sit at its left
        end. Rounded to 0.1 px."""
        if value <= 10.0**self.low:
            return round(self.x0, 1)
        share = (math.log10(value) - self.low) / (self.high - self.low)
        return round(self.x0 + self.width * min(share, 1.0), 1)

    def ticks(self) -> list[tuple[float, str]]:
        """``(x, label)`` of every decade of the axis."""
        return [
            (self.x(10.0**e) if e > self.low else round(self.x0, 1), ms_label(10.0**e))
            for e in range(self.low, self.high + 1)
        ]


__all__ = [
    "DARK",
    "INK",
    "LIGHT",
    "WHITE",
    "LogScale",
    "luminance",
    "ms_label",
    "shade",
    "text_colour",
]
