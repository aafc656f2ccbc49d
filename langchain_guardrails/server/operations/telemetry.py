"""What operators see: Prometheus metrics of the server, and logs of rail blocks and failures.

Metrics live in a registry of each app (not the process-wide default), so several apps in one
process (tests, embedding) count apart. With ``--workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set
by the CLI, a folder per server) every worker writes its values to that folder and ``/metrics``
answers the sum over the workers, dead ones included (so counters never go backwards), with
the live gauges of dead workers dropped. Nothing here ever sees or records unreleased text:
rail events carry the rail, stage, decision and timings only.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from langchain_guardrails.errors import require
from langchain_guardrails.observability.events import (
    RAIL_BLOCKED,
    RAIL_ERROR,
    RAIL_PASSED,
    rail_stage,
)
from langchain_guardrails.server.operations.tracing import RequestSpan

logger = logging.getLogger("langchain_guardrails.server")

_FAILED = re.compile(r"(?:failed: |raised )([A-Za-z_][A-Za-z0-9_.]*)")
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServerMetrics:
    """The server's Prometheus metrics (``GET /metrics``), in a registry of their own.

    Every label takes values from a bounded set, whatever clients send: routes are route
    templates (or ``other``), config ids are served config ids (or ``unknown``).

    Args:
        known: whether a string is a served config id (default: any string is).

    Example:
        .. code-block:: python

            metrics = ServerMetrics()
            metrics.busy.inc()
            metrics.render()  # b"# HELP guardrails_busy_rejections_total ..."
    """

    def __init__(self, known: Callable[[str], bool] | None = None) -> None:
        self._known = known
        prometheus = require("prometheus_client", "serve")
        self.registry = prometheus.CollectorRegistry(auto_describe=True)
        self.content_type: str = prometheus.CONTENT_TYPE_LATEST
        self._generate = prometheus.generate_latest
        self._prometheus = prometheus
        self.multiprocess_dir: str | None = os.environ.get(MULTIPROCESS_ENV) or None
        """Where the workers of this server write their values (``None``: one process)."""
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
            "guardrails_active_streams",
            "Streamed completions in progress",
            registry=registry,
            multiprocess_mode="livesum",  # the workers alive now, summed
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

    def config_label(self, config_id: str) -> str:
        """``config_id`` when it is a known config id, else ``"unknown"``."""
        known = self._known
        return config_id if known is None or known(config_id) else "unknown"

    def render(self) -> bytes:
        """The metrics in the Prometheus text format (summed over the workers, if several)."""
        folder = self.multiprocess_dir
        if folder is None:
            data: bytes = self._generate(self.registry)
            return data
        from prometheus_client import multiprocess

        _forget_dead_workers(folder, multiprocess.mark_process_dead)
        registry = self._prometheus.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        summed: bytes = self._generate(registry)
        return summed


MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db")


def _forget_dead_workers(folder: str, mark_process_dead: Any) -> None:
    # A dead worker's live gauges (streams in progress) would be counted for ever; its counters
    # and histograms stay, so sums never go backwards.
    for name in os.listdir(folder):
        found = _LIVE_FILE.fullmatch(name)
        if found is not None and not alive(int(found.group(1))):
            mark_process_dead(int(found.group(1)), folder)


def record_outcome(
    guardrails: Mapping[str, Any],
    config_id: str,
    request_id: str,
    metrics: ServerMetrics | None,
) -> None:
    """Log and count how a guarded call ended, from its final ``guardrails`` metadata.

    A block is logged at INFO; a block because a rail failed (raised or timed out: fail-closed)
    also at WARNING, with the failure kind and exception type. This costs nothing per chunk:
    it reads the metadata every answer carries anyway. Never logs any text.

    Example:
        .. code-block:: python

            record_outcome({"blocked": True, "stage": "input", "rail": "x"}, "cfg", rid, None)
    """
    if not guardrails.get("blocked"):
        return
    rail, stage = str(guardrails.get("rail")), str(guardrails.get("stage"))
    labels = {"config_id": config_id, "stage": stage, "rail": rail}
    fields = {"request_id": request_id, **labels}
    if guardrails.get("type") == "internal_error":
        _failure(str(guardrails.get("reason") or ""), fields, metrics)
    if metrics is not None:
        metrics.blocks.labels(**{**labels, "config_id": metrics.config_label(config_id)}).inc()
    logger.info(
        "rail %r (%s) of config %r blocked [request %s]",
        rail,
        stage,
        config_id,
        request_id,
        extra={**fields, "event": "block"},
    )


def _failure(reason: str, fields: dict[str, str], metrics: ServerMetrics | None) -> None:
    kind = "timeout" if "timed out" in reason else "error"
    found = _FAILED.search(reason)
    exception = found.group(1) if found else ("TimeoutError" if kind == "timeout" else "unknown")
    if metrics is not None:
        labels = {k: fields[k] for k in ("config_id", "stage", "rail")}
        labels["config_id"] = metrics.config_label(labels["config_id"])
        metrics.rail_errors.labels(kind=kind, **labels).inc()
    logger.warning(
        "rail %r (%s) of config %r failed: %s %s [request %s]",
        fields["rail"],
        fields["stage"],
        fields["config_id"],
        kind,
        exception,
        fields["request_id"],
        extra={**fields, "kind": kind, "exception_type": exception},
    )


class RailObserver(BaseCallbackHandler):
    """Times every rail run of one request, and reports rail failures that did not block
    (``on_error: allow``); pass one per call in callbacks.

    Listening to a guarded call makes it emit per-window events, which costs throughput, so
    the server attaches this only with ``rail_metrics=True`` (``--rail-metrics``).

    Example:
        .. code-block:: python

            observer = RailObserver("streaming", request_id, metrics)
            await guarded.ainvoke("Hi", config={"callbacks": [observer]})
    """

    ignore_llm = True  # rail runs and events only: no callback per streamed token
    ignore_chat_model = True
    run_inline = True

    def __init__(self, config_id: str, request_id: str, metrics: ServerMetrics | None) -> None:
        self.config_id = metrics.config_label(config_id) if metrics is not None else config_id
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
            stage = rail_stage(tags)
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
        """Time one rail run; report a failure that did not block (``on_error: allow``)."""
        if name not in (RAIL_PASSED, RAIL_BLOCKED, RAIL_ERROR) or not isinstance(data, dict):
            return
        rail, stage = str(data.get("rail")), str(data.get("stage"))
        labels = {"config_id": self.config_id, "stage": stage, "rail": rail}
        if self.metrics is not None and isinstance(data.get("duration"), float):
            self.metrics.rail_latency.labels(**labels).observe(data["duration"])
        if name == RAIL_ERROR:
            with self._lock:
                reason = self._reasons.pop((rail, stage), None) or ""
            if not data.get("stop"):
                # Blocking failures are reported from the final metadata (record_outcome).
                _failure(reason, {"request_id": self.request_id, **labels}, self.metrics)


async def tracked_stream(
    events: AsyncGenerator[bytes, None], metrics: ServerMetrics | None, span: RequestSpan | None
) -> AsyncGenerator[bytes, None]:
    if span is not None:
        try:
            async with aclosing(tracked_stream(events, metrics, None)) as inner:
                async for data in inner:
                    yield data
        finally:
            span.end(None, status=200)  # a stream that ended early (no-op once closed)
        return
    if metrics is None:
        async with aclosing(events):
            async for data in events:
                yield data
        return
    metrics.active_streams.inc()
    try:
        async with aclosing(events):
            async for data in events:
                yield data
    finally:
        metrics.active_streams.dec()


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
