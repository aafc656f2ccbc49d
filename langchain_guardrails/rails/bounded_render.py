"""Prompt templates render within bounds: in time, in size, and off the event loop.

Jinja's sandbox stops templates from reaching Python internals, but not from working forever
or filling memory: ``{% for i in range(20000) %}{% for j in range(20000) %}...`` runs for
seconds and ``{{ 'a' * 10**9 }}`` asks for a gigabyte. :class:`BoundedSandbox` adds limits:

* ``range`` holds at most :data:`MAX_RANGE` items, and every loop over one checks the render's
  deadline (:data:`MAX_RENDER_SECONDS`), so nested loops stop in time;
* ``*`` (repetition), ``+`` (concatenation) and ``**`` may not build a value larger than
  :data:`MAX_RENDER_CHARS` characters (items, digits); constant expressions are no longer
  folded when the template is compiled, so they meet the same limits at render time;
* the rendered text stops at :data:`MAX_RENDER_CHARS` characters, and the ``lipsum`` global
  (unbounded text) is gone;
* :func:`render_off_loop` renders in the sync-rail thread pool, so the event loop keeps
  serving while a template renders.

A template over a limit raises :class:`RenderLimitError` (a ``jinja2`` ``SecurityError``); the
rail then fails closed (``internal_error``), as for any rail error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from langchain_guardrails.rails.executor import run_sync_rail

T = TypeVar("T")

MAX_RANGE = 10_000
"""Items of one ``range(...)`` in a template."""
MAX_RENDER_CHARS = 1_000_000
"""Characters of a rendered template, and of any value it builds with ``*``, ``+``, ``**``."""
MAX_RENDER_SECONDS = 1.0
"""Seconds one render may take (prompts render in microseconds)."""

_deadline: ContextVar[float] = ContextVar("guardrails_render_deadline", default=math.inf)


class RenderLimitError(SecurityError):
    """A template went over a rendering limit (time, size, ``range`` length)."""


def _check_time() -> None:
    if time.monotonic() > _deadline.get():
        raise RenderLimitError(f"the template took longer than {MAX_RENDER_SECONDS:g} s to render")


class _TimedRange:
    """A ``range`` whose iteration checks the render's deadline (loops stop in time)."""

    __slots__ = ("items",)

    def __init__(self, items: range) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item: object) -> bool:
        return item in self.items

    def __iter__(self) -> Iterator[int]:
        for index, item in enumerate(self.items):
            if not index & 255:
                _check_time()
            yield item


def bounded_range(*args: int) -> _TimedRange:
    """``range`` for templates: at most :data:`MAX_RANGE` items, iterated within the deadline."""
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise RenderLimitError(f"range() may hold at most {MAX_RANGE} items in a template")
    return _TimedRange(items)


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox with bounds on loops, built values and output (module docstring)."""

    intercepted_binops = frozenset({"*", "+", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = bounded_range
        self.globals.pop("lipsum", None)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse ``*``, ``+`` and ``**`` whose result would be over the size limit."""
        _check_time()
        size: float = 0
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                length = _size(seq)
                if length is not None and isinstance(times, int):
                    size = length * times
        elif operator == "+":
            a, b = _size(left), _size(right)
            size = (a or 0) + (b or 0)
        elif isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            size = right * math.log10(abs(left))  # digits of left ** right
        if size > MAX_RENDER_CHARS:
            raise RenderLimitError(
                f"the template builds a value over {MAX_RENDER_CHARS} characters ({operator!r})"
            )
        return super().call_binop(context, operator, left, right)


def render_bounded(render: Callable[[], Iterator[str]]) -> str:
    """Join the pieces ``render()`` yields, within :data:`MAX_RENDER_SECONDS` and
    :data:`MAX_RENDER_CHARS` (e.g. ``lambda: template.generate(values)``)."""
    token = _deadline.set(time.monotonic() + MAX_RENDER_SECONDS)
    try:
        parts: list[str] = []
        total = 0
        for part in render():
            total += len(part)
            if total > MAX_RENDER_CHARS:
                raise RenderLimitError(
                    f"the rendered template is longer than {MAX_RENDER_CHARS} characters"
                )
            parts.append(part)
        _check_time()
        return "".join(parts)
    finally:
        _deadline.reset(token)


async def render_off_loop(render: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a sync render in the sync-rail thread pool (the event loop keeps serving)."""
    return await run_sync_rail(render, **kwargs)


__all__ = [
    "MAX_RANGE",
    "MAX_RENDER_CHARS",
    "MAX_RENDER_SECONDS",
    "BoundedSandbox",
    "RenderLimitError",
    "bounded_range",
    "render_bounded",
    "render_off_loop",
]
