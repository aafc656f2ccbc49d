"""What operators see: Prometheus metrics of the server, and logs of rail blocks and failures.

Metrics live in a registry of each app (not the process-wide default), so several apps in one
process (tests, embedding) count apart. Nothing here ever sees or records unreleased text:
rail events carry the rail, stage, decision and timings only.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from .._events import RAIL_BLOCKED, RAIL_ERROR, RAIL_PASSED
from ..errors import require

logger = logging.getLogger("langchain_guardrails.server")

_FAILED = re.compile(r"(?:failed: |raised )([A-Za-z_][A-Za-z0-9_.]*)")
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServerMetrics:
    """The server's Prometheus metrics (``GET /metrics``), in a registry of their own.

    Example:
        .. code-block:: python

            metrics = ServerMetrics()
            metrics.busy.inc()
            metrics.render()  # b"# HELP guardrails_busy_rejections_total ..."
    """

    def __init__(self) -> None:
        prometheus = require("prometheus_client", "serve")
        self.registry = prometheus.CollectorRegistry(auto_describe=True)
        self.content_type: str = prometheus.CONTENT_TYPE_LATEST
        self._generate = prometheus.generate_latest
        counter, gauge, histogram = prometheus.Counter, prometheus.Gauge, prometheus.Histogram
        registry = self.registry
        self.requests = counter(
            "guardrails_requests",
            "HTTP requests answered, by route and status",
            ["route", "status"],
            registry=registry,
        )
        self.blocks = counter(
            "guardrails_blocks",
            "Rail blocks, by config, stage and rail",
            ["config_id", "stage", "rail"],
            registry=registry,
        )
        self.rail_latency = histogram(
            "guardrails_rail_duration_seconds",
            "Time of one rail run",
            ["config_id", "stage", "rail"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.rail_errors = counter(
            "guardrails_rail_errors",
            "Rail runs that raised (kind=error) or timed out (kind=timeout)",
            ["config_id", "stage", "rail", "kind"],
            registry=registry,
        )
        self.active_streams = gauge(
            "guardrails_active_streams", "Streamed completions in progress", registry=registry
        )
        self.busy = counter(
            "guardrails_busy_rejections",
            "Requests answered 503 because the server was at its concurrency limit",
            registry=registry,
        )
        self.time_to_first_token = histogram(
            "guardrails_time_to_first_token_seconds",
            "From request to the first released content of a streamed completion",
            ["config_id"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        data: bytes = self._generate(self.registry)
        return data


class RailObserver(BaseCallbackHandler):
    """Logs and counts the rail decisions of one request (pass one per call in callbacks).

    Blocks are logged at INFO, failures (raised or timed out) at WARNING, with config id, rail,
    stage, failure kind, exception type and request id, never any text.

    Example:
        .. code-block:: python

            observer = RailObserver("streaming", request_id, metrics)
            await guarded.ainvoke("Hi", config={"callbacks": [observer]})
    """

    run_inline = True

    def __init__(self, config_id: str, request_id: str, metrics: ServerMetrics | None) -> None:
        self.config_id = config_id
        self.request_id = request_id
        self.metrics = metrics
        self._lock = threading.Lock()
        self._open: dict[UUID, tuple[str, str]] = {}
        self._reasons: dict[tuple[str, str], str | None] = {}

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember rail runs (tagged ``guardrails:rail``)."""
        tags = tags or []
        if "guardrails:rail" in tags:
            stage = "input" if "guardrails:input" in tags else "output"
            with self._lock:
                self._open[run_id] = (kwargs.get("name") or "?", stage)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Remember why a rail failed (its reason names the exception type, never text)."""
        with self._lock:
            key = self._open.pop(run_id, None)
            if key is not None and isinstance(outputs, dict):
                self._reasons[key] = outputs.get("reason")

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Forget a rail run that was cancelled."""
        with self._lock:
            self._open.pop(run_id, None)

    def on_custom_event(
        self, name: str, data: Any, *, run_id: UUID, tags: list[str] | None = None, **kwargs: Any
    ) -> None:
        """Count and log one terminal rail event."""
        if name not in (RAIL_PASSED, RAIL_BLOCKED, RAIL_ERROR) or not isinstance(data, dict):
            return
        rail, stage = str(data.get("rail")), str(data.get("stage"))
        labels = {"config_id": self.config_id, "stage": stage, "rail": rail}
        if self.metrics is not None and isinstance(data.get("duration"), float):
            self.metrics.rail_latency.labels(**labels).observe(data["duration"])
        fields = {"request_id": self.request_id, **labels}
        if name == RAIL_ERROR:
            with self._lock:
                reason = self._reasons.pop((rail, stage), None) or ""
            kind = "timeout" if "timed out" in reason else "error"
            found = _FAILED.search(reason)
            exception = found.group(1) if found else ("TimeoutError" if kind == "timeout" else "?")
            if self.metrics is not None:
                self.metrics.rail_errors.labels(kind=kind, **labels).inc()
            logger.warning(
                "rail %r (%s) of config %r failed: %s %s [request %s]",
                rail,
                stage,
                self.config_id,
                kind,
                exception,
                self.request_id,
                extra={**fields, "kind": kind, "exception_type": exception},
            )
        if name == RAIL_BLOCKED or (name == RAIL_ERROR and data.get("stop")):
            if self.metrics is not None:
                self.metrics.blocks.labels(**labels).inc()
            logger.info(
                "rail %r (%s) of config %r blocked [request %s]",
                rail,
                stage,
                self.config_id,
                self.request_id,
                extra={**fields, "event": "block"},
            )
