"""Request ids, the access log and request counts, as the outermost ASGI middleware."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from langchain_guardrails.server.operations.telemetry import ServerMetrics

access_logger = logging.getLogger("langchain_guardrails.server.access")

REQUEST_ID_KEY = "guardrails.request_id"
"""Scope key of the request id (also sent back as the ``x-request-id`` header)."""
ROUTE_KEY = "guardrails.route"
"""Scope key of a dict where :class:`RouteTemplateMiddleware` puts the matched route's
template (inner middleware copy the scope, so the router's own scope is out of reach)."""
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_ROUTES = (
    "/v1/chat/completions",
    "/v1/guardrail/checks",
    "/v1/models",
    "/v1/rails/configs/reload",
    "/v1/rails/configs",
    "/health",
    "/metrics",
)


def request_id(scope: Scope) -> str:
    """The id :class:`AccessLogMiddleware` gave this request (``"-"`` outside it)."""
    value = scope.get(REQUEST_ID_KEY)
    return value if isinstance(value, str) else "-"


class AccessLogMiddleware:
    """Give each request an id (the client's ``x-request-id`` when it is a plain token), send it
    back in ``x-request-id``, log one access line per request and count it in the metrics."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"")
        rid = given.decode() if _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", rid.encode())]
                message = {**message, "headers": headers}
            await send(message)

        matched: dict[str, str] = {}
        try:
            await self.app(
                {**scope, REQUEST_ID_KEY: rid, ROUTE_KEY: matched}, receive, send_with_id
            )
        finally:
            # No status: the client left before an answer (499, as nginx logs it).
            status = status or 499
            route = matched.get("route") or _route(scope.get("path", ""))
            if self.metrics is not None:
                self.metrics.requests.labels(route=route, status=str(status)).inc()
            millis = round((time.perf_counter() - started) * 1000, 1)
            client = scope.get("client") or ("-", 0)
            access_logger.info(
                '%s "%s %s" %d %.1fms [request %s]',
                client[0],
                scope["method"],
                route,
                status,
                millis,
                rid,
                extra={
                    "request_id": rid,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": millis,
                },
            )


def _route(path: str) -> str:
    # Requests refused before routing (401, 413, 429...): a known route or "other", never the
    # raw path, which any client (also one without a key) could make unbounded.
    return path if path in _ROUTES else "other"


class RouteTemplateMiddleware:
    """The innermost middleware: after the router ran, tell :class:`AccessLogMiddleware` the
    template of the route it matched (``/configs/{config_id}/invoke``), the label of the
    request in the access log and the metrics. Unmatched paths stay ``other``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            matched = scope.get(ROUTE_KEY)
            template = getattr(scope.get("route"), "path", None)
            if isinstance(matched, dict) and isinstance(template, str):
                matched["route"] = _config_template(template)


def _config_template(template: str) -> str:
    # LangServe routes are mounted per config at literal paths (/configs/<id>/invoke).
    if template.startswith("/configs/"):
        parts = template.split("/")
        return "/".join(["", "configs", "{config_id}", *parts[3:]])
    return template


class JSONLogFormatter(logging.Formatter):
    """One JSON object per log line (``--log-format json``), with the structured fields the
    server attaches (``request_id``, ``config_id``, ``rail``, ``stage``, ``status``...).

    Example:
        .. code-block:: python

            handler.setFormatter(JSONLogFormatter())
    """

    FIELDS = (
        "request_id",
        "config_id",
        "rail",
        "stage",
        "kind",
        "exception_type",
        "event",
        "method",
        "route",
        "status",
        "duration_ms",
    )

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        data: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self.FIELDS:
            if name in record.__dict__:
                data[name] = record.__dict__[name]
        if record.exc_info and record.exc_info[0] is not None:
            # Only the type: a formatted traceback would quote the exception's message.
            data["exception_type"] = record.exc_info[0].__name__
        elif record.exc_text:
            data["traceback"] = record.exc_text  # set by log_failure: messages redacted
        return json.dumps(data, ensure_ascii=True, default=str)


def uvicorn_json_logging() -> dict[str, Any]:
    """uvicorn's ``log_config`` for ``--log-format json``: its own lines (startup, shutdown,
    errors) as :class:`JSONLogFormatter` lines on stderr, like the server's.

    Example:
        .. code-block:: python

            uvicorn.run(app, log_config=uvicorn_json_logging())
    """
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,  # the package's own handler stays
        "formatters": {"json": {"()": f"{__name__}.JSONLogFormatter"}},
        "handlers": {"json": handler},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": ["json"], "level": "INFO", "propagate": False},
        },
    }
