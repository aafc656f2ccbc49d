"""Browser-facing safety: ``Host`` checks (DNS rebinding), JSON-only POSTs and same-origin.

Without an API key a server on localhost trusts whoever can reach it, and a web page can reach
it: through a DNS name rebound to 127.0.0.1 (a foreign ``Host``), or by a cross-site "simple"
request (``text/plain`` POST with a foreign ``Origin``, no preflight). Both are refused here.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from langchain_guardrails.server.operations.auth import send_error

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Default ``allowed_hosts``: the names of a server bound to the loopback interface."""


class BrowserGuardMiddleware:
    """403 for a ``Host`` not in ``allowed_hosts`` (``"*"`` allows any) and for an ``Origin``
    that is neither the server's own nor in ``cors_origins``; 415 for a POST whose
    ``Content-Type`` is not ``application/json``.

    Example:
        .. code-block:: python

            app.add_middleware(BrowserGuardMiddleware, allowed_hosts=["api.example.com"])
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Iterable[str] = LOOPBACK_HOSTS,
        cors_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.hosts = frozenset(_host_name(h.encode()) for h in allowed_hosts)
        self.any_host = "*" in self.hosts
        self.origins = frozenset(o.rstrip("/").lower() for o in cors_origins)
        self.any_origin = "*" in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"")
        if not self.any_host and _host_name(host) not in self.hosts:
            shown = host.decode("latin-1")[:100]
            await send_error(
                send,
                403,
                f"Host {shown!r} is not served here (allow it with --allowed-host)",
                "host_not_allowed",
                path=scope["path"],
            )
            return
        origin = headers.get(b"origin")
        if origin is not None and not self._same_or_allowed(origin, host, scope):
            shown = origin.decode("latin-1")[:100]
            await send_error(
                send,
                403,
                f"Cross-origin requests from {shown!r} are not allowed "
                "(allow the origin with --cors-origin)",
                "origin_not_allowed",
                path=scope["path"],
            )
            return
        if scope["method"] == "POST":
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json":
                await send_error(
                    send,
                    415,
                    "The request Content-Type must be application/json",
                    "bad_media",
                    path=scope["path"],
                )
                return
        await self.app(scope, receive, send)

    def _same_or_allowed(self, origin: bytes, host: bytes, scope: Scope) -> bool:
        text = origin.decode("latin-1").rstrip("/").lower()
        if self.any_origin or text in self.origins:
            return True
        return text == f"{scope.get('scheme', 'http')}://{host.decode('latin-1').lower()}"


def _host_name(host: bytes) -> str:
    """``host[:port]`` or ``[v6]:port`` without the port, lower-case."""
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        return text.partition(":")[0]
    return text
