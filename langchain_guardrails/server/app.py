"""The FastAPI app: OpenAI-compatible chat completions, rail checks, listings, LangServe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from langchain_guardrails.errors import ConfigError
from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.server.configs import ConfigRegistry, UnknownConfigError
from langchain_guardrails.server.fleet import Reloader, server_lifespan
from langchain_guardrails.server.operations.access import (
    AccessLogMiddleware,
    RouteTemplateMiddleware,
)
from langchain_guardrails.server.operations.auth import APIKeyMiddleware
from langchain_guardrails.server.operations.browser import LOOPBACK_HOSTS, BrowserGuardMiddleware
from langchain_guardrails.server.operations.drain import Drain
from langchain_guardrails.server.operations.health import health_report
from langchain_guardrails.server.operations.key_limits import (
    KeyLimitMiddleware,
    KeyLimits,
    LocalKeyLimits,
    RedisKeyLimits,
)
from langchain_guardrails.server.operations.limits import (
    ConcurrencyLimitMiddleware,
    RequestBodyMiddleware,
)
from langchain_guardrails.server.operations.telemetry import (
    ServerMetrics,
)
from langchain_guardrails.server.protocol.chat_route import add_chat_route
from langchain_guardrails.server.protocol.checks import (
    add_checks_route,
)
from langchain_guardrails.server.protocol.json_http import (
    JSONBody,
    http_error_response,
    request_error_response,
)
from langchain_guardrails.server.protocol.messages_route import add_messages_route
from langchain_guardrails.server.protocol.openai_schema import (
    RequestError,
)
from langchain_guardrails.server.protocol.responses_route import add_responses_route
from langchain_guardrails.server.protocol.route_deps import RouteDeps

logger = logging.getLogger("langchain_guardrails.server")

DEFAULT_MAX_CONCURRENCY = 128
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_BODY_TIMEOUT = 10.0
DEFAULT_REQUEST_TIMEOUT = 600.0
_LIMITED = (
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/messages",
    "/v1/guardrail/checks",
    "/configs/",
    "/ui/api/run",
    "/ui/api/eval",
)


def create_app(
    config_path: str | Path,
    *,
    default_config_id: str | None = None,
    api_key: str | Sequence[str] | None = None,
    langserve: bool = False,
    cors_origins: Sequence[str] | None = None,
    allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
    allow_actions: bool = True,
    metrics: bool = True,
    rail_metrics: bool = False,
    reload_on_sighup: bool = False,
    cache_size: int = 16,
    nemo_errors: bool = False,
    preload: bool = False,
    fast_path: bool = True,
    max_concurrency_per_key: int | None = None,
    requests_per_minute_per_key: int | None = None,
    redis_url: str | None = None,
    key_lease_seconds: float = 30.0,
    tracer_provider: Any | None = None,
    drain_timeout: float | None = None,
    state_dir: str | Path | None = None,
    console: bool = True,
    console_debug: bool = False,
) -> FastAPI:
    """The guardrails server as a FastAPI app (run it with uvicorn).

    Args:
        config_path: a folder of config folders (each folder name is a ``config_id``), or one
            config folder (served under its folder name).
        default_config_id: config used when a request names none (default: the only config,
            when there is exactly one).
        api_key: when set, every route but ``/health`` needs ``Authorization: Bearer <key>``
            (one of the keys, when a list is given), or ``x-api-key: <key>`` as Anthropic's
            clients send it.
        langserve: mount LangServe routes for each config at ``/configs/{config_id}``.
        cors_origins: origins allowed by CORS (CORS is off when ``None``); other cross-origin
            requests get 403.
        allowed_hosts: ``Host`` header values served (``"*"``: any); others get 403, which
            stops DNS-rebinding pages. The default suits a server bound to localhost.
        max_concurrency: generation requests served at once; more get 503 + ``Retry-After``.
        max_body_bytes: larger request bodies get 413.
        body_timeout: seconds a request body may take to arrive; slower ones get 408. A
            request takes a generation slot only once its body has arrived.
        request_timeout: seconds a generation may take (``None``: no limit); a stream then
            ends with a ``request_timeout`` error event and ``[DONE]``, a whole answer is 504.
        allow_actions: ``False`` refuses configs that carry Python code (``actions.py``).
        metrics: serve Prometheus metrics at ``GET /metrics``.
        rail_metrics: also time every rail run (``guardrails_rail_duration_seconds``) and
            report rail failures that did not block; listening to every rail costs throughput.
        reload_on_sighup: reload changed configs on ``SIGHUP`` (main thread servers only).
        cache_size: built configs kept in memory.
        nemo_errors: on a streamed block, also put NeMo's top-level ``error`` object in the
            final chunk (the ``openai`` SDK raises on it, so it is off by default; a request
            can ask for it with ``"guardrails": {"nemo_errors": true}``).
        preload: build every config now. Configs that fail are logged, listed in
            ``app.state.config_errors`` and answer 500 with a short error; when none can be
            built, :class:`ConfigError` is raised here.
        fast_path: a config whose main model is ``engine: openai`` streams from its upstream
            through a light OpenAI-compatible client (one HTTP connection pool per config, SSE
            read with ``orjson``) instead of ``ChatOpenAI``; rails and release are the same.
        max_concurrency_per_key: generations one API key (bearer token) may run at once;
            more get 429 with ``Retry-After``. Without ``api_key`` the per-key limits count
            by client address (any token would pass, so counting tokens could be dodged).
        requests_per_minute_per_key: generation requests one API key may start per minute.
        redis_url: keep the per-key counts in Redis, shared by every worker and machine
            (without it they are per process).
        key_lease_seconds: with ``redis_url``, each concurrency slot is a lease of this many
            seconds, renewed while its request runs: a killed worker's slots return by then.
        tracer_provider: OpenTelemetry tracer provider of the request, rail and model spans
            of ``/v1/chat/completions`` (default: the global one). Spans are made only when
            ``opentelemetry-api`` is installed (``otel`` extra) and the provider records.
        drain_timeout: the server's drain on ``SIGTERM`` (seconds): streams still open near
            its end stop with a ``server_shutting_down`` error event and ``[DONE]``.
        state_dir: the shared folder of a server's workers (the CLI sets it with
            ``--workers``): reloads reach every worker through it.
        console: serve the console at ``/ui`` (its API behind the same key and checks).
        console_debug: the console also shows unreleased model text (marked on every page);
            for debugging rails on a private server only.

    Example:
        .. code-block:: python

            import uvicorn
            from langchain_guardrails.server import create_app

            app = create_app("examples/configs", api_key="s3cret")
            uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1 (got {max_concurrency})")
    for name, value in (
        ("max_concurrency_per_key", max_concurrency_per_key),
        ("requests_per_minute_per_key", requests_per_minute_per_key),
    ):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1 (got {value})")
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be >= 1 (got {max_body_bytes})")
    if request_timeout is not None and not request_timeout > 0:
        raise ValueError(f"request_timeout must be > 0 (got {request_timeout})")
    registry = ConfigRegistry(
        config_path, cache_size=cache_size, allow_actions=allow_actions, fast_path=fast_path
    )
    known = registry.ids()
    if not known:
        raise ConfigError(
            f"{config_path}: no config folders found (a config folder holds a config.yml)"
        )
    if default_config_id is not None and default_config_id not in known:
        raise ConfigError(f"default_config_id: {UnknownConfigError(default_config_id, known)}")
    elif len(known) == 1:
        default_config_id = known[0]
    registry.import_actions()  # a bad actions.py fails start-up, before traffic
    config_errors: dict[str, str] = {}
    if preload or langserve:
        for config_id in known:
            try:
                registry.get(config_id)
            except (ConfigError, ImportError) as exc:
                config_errors[config_id] = str(exc)
        if len(config_errors) == len(known):
            raise ConfigError(
                "no config could be loaded:\n"
                + "\n".join(f"{cid}: {error}" for cid, error in config_errors.items())
            )
    server_metrics = ServerMetrics(known=registry.is_known) if metrics else None

    reloader = Reloader(registry, Path(state_dir) if state_dir is not None else None)
    drain = Drain(drain_timeout)
    lifespan = server_lifespan(reloader, drain, reload_on_sighup)
    app = FastAPI(title="langchain-guardrails", version="1", docs_url="/docs", lifespan=lifespan)
    app.state.registry = registry
    app.state.config_errors = config_errors
    app.state.metrics = server_metrics
    app.add_exception_handler(RequestError, request_error_response)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error_response)  # type: ignore[arg-type]

    async def guardrails_for(
        config_id: str | None, model: str | None = None
    ) -> tuple[Guardrails, str]:
        if config_id is None and model is not None:
            # Clients that can only set `model` pick a config by it.
            by_model = registry.cached(model)
            if by_model is not None:
                return by_model, model
            if model in registry.ids():
                config_id = model
        if config_id is None:
            config_id = default_config_id
        if config_id is None:
            raise RequestError(
                "config_id is required (or a model naming a config); known config ids: "
                + ", ".join(registry.ids()),
                param="config_id",
                code="missing_required",
            )
        cached = registry.cached(config_id)
        if cached is not None:
            return cached, config_id
        try:
            return await asyncio.to_thread(registry.get, config_id), config_id
        except UnknownConfigError as exc:
            raise RequestError(
                str(exc),
                status=404,
                param="config_id",
                code="config_not_found",
                extra={"known_config_ids": exc.known},
            ) from exc
        except (ConfigError, ImportError) as exc:
            # Clients get the config id and a short message; the details are in the log.
            summary = registry.errors().get(config_id) or f"config {config_id!r} is broken"
            raise RequestError(
                summary[0].upper() + summary[1:],
                status=500,
                type="server_error",
                code="config_error",
            ) from exc

    def served_ids() -> list[str]:
        broken = registry.errors()
        return [cid for cid in registry.ids() if cid not in broken]

    limits: KeyLimits | None = None
    if max_concurrency_per_key is not None or requests_per_minute_per_key is not None:
        if redis_url:
            limits = RedisKeyLimits(
                redis_url,
                max_concurrency_per_key,
                requests_per_minute_per_key,
                lease_seconds=key_lease_seconds,
            )
        else:
            limits = LocalKeyLimits(max_concurrency_per_key, requests_per_minute_per_key)

    @app.get("/health", response_model=None)
    async def health() -> Response:
        status, body = await health_report(limits)  # degraded: 503 (see server.health)
        return JSONBody(body, status_code=status)

    if server_metrics is not None:

        @app.get("/metrics", include_in_schema=False)
        async def metrics_route() -> Response:
            assert server_metrics is not None
            return Response(server_metrics.render(), media_type=server_metrics.content_type)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        data = [
            {"id": cid, "object": "model", "created": 0, "owned_by": "langchain-guardrails"}
            for cid in served_ids()
        ]
        return {"object": "list", "data": data}

    @app.get("/v1/rails/configs")
    async def configs() -> list[dict[str, str]]:
        # A config whose new version did not build still serves its old one: say so.
        failed = reloader.failed
        return [{"id": cid, **_reload_error(failed.get(cid))} for cid in served_ids()]

    @app.post("/v1/rails/configs/reload")
    async def reload_configs() -> dict[str, Any]:
        return await reloader.reload_all()

    deps = RouteDeps(
        guardrails_for=guardrails_for,
        default_model=default_config_id or "guardrails",
        request_timeout=request_timeout,
        drain=drain,
        metrics=server_metrics,
        rail_metrics=rail_metrics,
        tracer_provider=tracer_provider,
        nemo_errors=nemo_errors,
    )
    add_chat_route(app, deps)
    add_responses_route(app, deps)
    add_messages_route(app, deps)
    add_checks_route(app, deps)
    if console:
        from langchain_guardrails.server.console import add_console_routes

        add_console_routes(app, deps, served_ids=served_ids, debug=console_debug)

    app.add_middleware(RouteTemplateMiddleware)  # innermost: it sees the router's scope
    if langserve:
        from langchain_guardrails.server.langserve.routes import (
            LangServeInputMiddleware,
            add_config_routes,
        )

        for config_id in known:
            if config_id not in config_errors:
                add_config_routes(app, registry.get(config_id), config_id)
        app.add_middleware(LangServeInputMiddleware)
    # Each middleware added wraps the ones before it. Outermost first: the access log (request
    # ids), CORS (so errors carry CORS headers), Host/Origin/Content-Type checks, the API key,
    # the request body (read whole, in time), then the concurrency limit: a request takes a
    # slot only once its body is in.
    app.add_middleware(
        ConcurrencyLimitMiddleware,
        limit=max_concurrency,
        prefixes=_LIMITED,
        on_busy=server_metrics.busy.inc if server_metrics is not None else None,
    )
    if limits is not None:
        # Outside the server-wide limit: a key over its own limit takes no server slot.
        # Without API keys any token passes, so the limits count by client address instead.
        app.add_middleware(
            KeyLimitMiddleware, limits=limits, prefixes=_LIMITED, by_token=bool(api_key)
        )
    app.add_middleware(RequestBodyMiddleware, max_bytes=max_body_bytes, timeout=body_timeout)
    if api_key:
        app.add_middleware(APIKeyMiddleware, api_key=api_key)
    app.add_middleware(
        BrowserGuardMiddleware, allowed_hosts=allowed_hosts, cors_origins=cors_origins or ()
    )
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(AccessLogMiddleware, metrics=server_metrics)
    return app


def _reload_error(error: str | None) -> dict[str, str]:
    return {} if error is None else {"reload_error": error}
