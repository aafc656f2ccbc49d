"""What a protocol route needs from the app that serves it: the guard of a request's config,
its time limits and drain, and where it reports (metrics, traces). Built once by
:func:`~langchain_guardrails.server.app.create_app`; every route module takes it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.server.operations.drain import Drain
from langchain_guardrails.server.operations.telemetry import ServerMetrics


@dataclass(frozen=True, slots=True)
class RouteDeps:
    """The app's services, shared by its routes (no per-request state)."""

    guardrails_for: Callable[[str | None, str | None], Awaitable[tuple[Guardrails, str]]]
    """``(config_id, model)`` -> the served config's guard and its id (``RequestError`` 404 on
    an unknown config)."""
    default_model: str
    """The ``model`` of answers to requests that name none."""
    request_timeout: float | None
    drain: Drain
    metrics: ServerMetrics | None
    rail_metrics: bool
    """Time every rail run (``--rail-metrics``)."""
    tracer_provider: Any
    nemo_errors: bool


__all__ = ["RouteDeps"]
