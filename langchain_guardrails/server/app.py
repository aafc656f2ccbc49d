"""The FastAPI app: OpenAI-compatible chat completions, rail checks, listings, LangServe."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ConfigError
from ..runnable import Guardrails
from .auth import APIKeyMiddleware
from .checks import run_checks
from .completions import complete, event_stream, generation_error
from .configs import ConfigRegistry, UnknownConfigError
from .limits import BodySizeLimitMiddleware, ConcurrencyLimitMiddleware
from .openai_schema import ChatRequest, RequestError, parse_chat_request, parse_messages
from .sse import EventStreamResponse, cancel_on_disconnect

logger = logging.getLogger("langchain_guardrails.server")

DEFAULT_MAX_CONCURRENCY = 128
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
_LIMITED = ("/v1/chat/completions", "/v1/guardrail/checks", "/configs/")


def create_app(
    config_path: str | Path,
    *,
    default_config_id: str | None = None,
    api_key: str | None = None,
    langserve: bool = False,
    cors_origins: Sequence[str] | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    cache_size: int = 16,
    nemo_errors: bool = False,
    preload: bool = False,
) -> FastAPI:
    """The guardrails server as a FastAPI app (run it with uvicorn).

    Args:
        config_path: a folder of config folders (each folder name is a ``config_id``), or one
            config folder (served under its folder name).
        default_config_id: config used when a request names none (default: the only config,
            when there is exactly one).
        api_key: when set, every route but ``/health`` needs ``Authorization: Bearer <key>``.
        langserve: mount LangServe routes for each config at ``/configs/{config_id}``.
        cors_origins: origins allowed by CORS (CORS is off when ``None``).
        max_concurrency: generation requests served at once; more get 503 + ``Retry-After``.
        max_body_bytes: larger request bodies get 413.
        cache_size: built configs kept in memory.
        nemo_errors: on a streamed block, also put NeMo's top-level ``error`` object in the
            final chunk (the ``openai`` SDK raises on it, so it is off by default; a request
            can ask for it with ``"guardrails": {"nemo_errors": true}``).
        preload: build every config now. Configs that fail are logged, listed in
            ``app.state.config_errors`` and answer 500 with their error; when none can be
            built, :class:`ConfigError` is raised here.

    Example:
        .. code-block:: python

            import uvicorn
            from langchain_guardrails.server import create_app

            app = create_app("examples/configs", api_key="s3cret")
            uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1 (got {max_concurrency})")
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be >= 1 (got {max_body_bytes})")
    registry = ConfigRegistry(config_path, cache_size=cache_size)
    known = registry.ids()
    if not known:
        raise ConfigError(
            f"{config_path}: no config folders found (a config folder holds a config.yml)"
        )
    if default_config_id is not None and default_config_id not in known:
        raise ConfigError(f"default_config_id: {UnknownConfigError(default_config_id, known)}")
    elif len(known) == 1:
        default_config_id = known[0]
    config_errors: dict[str, str] = {}
    if preload or langserve:
        for config_id in known:
            try:
                registry.get(config_id)
            except (ConfigError, ImportError) as exc:
                logger.warning("config %r is not served: %s", config_id, exc)
                config_errors[config_id] = str(exc)
        if len(config_errors) == len(known):
            raise ConfigError(
                "no config could be loaded:\n"
                + "\n".join(f"{cid}: {error}" for cid, error in config_errors.items())
            )

    app = FastAPI(title="langchain-guardrails", version="1", docs_url="/docs")
    app.state.registry = registry
    app.state.config_errors = config_errors
    app.add_exception_handler(RequestError, _request_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]

    async def guardrails_for(config_id: str | None, model: str | None = None) -> Guardrails:
        if config_id is None and model is not None:
            # Clients that can only set `model` pick a config by it.
            by_model = registry.cached(model)
            if by_model is not None:
                return by_model
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
            return cached
        try:
            return await asyncio.to_thread(registry.get, config_id)
        except UnknownConfigError as exc:
            raise RequestError(
                str(exc),
                status=404,
                param="config_id",
                code="config_not_found",
                extra={"known_config_ids": exc.known},
            ) from exc
        except (ConfigError, ImportError) as exc:
            logger.error("config %r is broken: %s", config_id, exc)
            raise RequestError(
                f"Config {config_id!r} could not be loaded: {exc}",
                status=500,
                type="server_error",
                code="config_error",
            ) from exc

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        data = [
            {"id": cid, "object": "model", "created": 0, "owned_by": "langchain-guardrails"}
            for cid in registry.ids()
        ]
        return {"object": "list", "data": data}

    @app.get("/v1/rails/configs")
    async def configs() -> list[dict[str, str]]:
        return [{"id": cid} for cid in registry.ids()]

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Response:
        chat = parse_chat_request(await _json(request))
        guarded = await guardrails_for(chat.config_id, chat.model)
        model = chat.model or chat.config_id or default_config_id or "guardrails"
        log_rails = _log_rails(chat)
        if chat.stream:
            events = event_stream(
                guarded,
                chat.messages,
                chat.model_kwargs,
                model=model,
                include_usage=chat.include_usage,
                nemo_errors=nemo_errors or chat.options.get("nemo_errors") is True,
                log_rails=log_rails,
            )
            return EventStreamResponse(events)

        async def work() -> dict[str, Any]:
            return await complete(
                guarded, chat.messages, chat.model_kwargs, model=model, log_rails=log_rails
            )

        try:
            gone, body = await cancel_on_disconnect(request.receive, work)
        except Exception as exc:
            logger.exception("chat completion failed")
            return JSONResponse(generation_error(exc), status_code=500)
        # 499 is never seen by the client that left; it keeps access logs honest.
        return Response(status_code=499) if gone else JSONResponse(body)

    @app.post("/v1/guardrail/checks", response_model=None)
    async def guardrail_checks(request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object")
        config_id, model = body.get("config_id"), body.get("model")
        for key, value in (("config_id", config_id), ("model", model)):
            if value is not None and not isinstance(value, str):
                raise RequestError(f"{key} must be a string", param=key)
        messages = parse_messages(body.get("messages"))
        stages = body.get("rails")
        if stages is not None and (
            not isinstance(stages, list) or not set(stages) <= {"input", "output"} or not stages
        ):
            raise RequestError(
                'rails must be a non-empty array of "input" and/or "output"', param="rails"
            )
        guarded = await guardrails_for(config_id, model)
        try:
            gone, result = await cancel_on_disconnect(
                request.receive, lambda: run_checks(guarded, messages, stages)
            )
        except ValueError as exc:
            raise RequestError(str(exc), param="messages") from exc
        return Response(status_code=499) if gone else JSONResponse(result)

    if langserve:
        from .langserve_routes import add_config_routes

        for config_id in known:
            if config_id not in config_errors:
                add_config_routes(app, registry.get(config_id), config_id)
    # Each middleware added wraps the ones before it. Outermost first: CORS (so errors carry
    # CORS headers), the API key, the concurrency limit, the body size limit.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(ConcurrencyLimitMiddleware, limit=max_concurrency, prefixes=_LIMITED)
    if api_key:
        app.add_middleware(APIKeyMiddleware, api_key=api_key)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise RequestError("The request body is empty; expected a JSON object", code="invalid_json")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(
            f"The request body is not valid JSON: {exc}", code="invalid_json"
        ) from exc


def _log_rails(chat: ChatRequest) -> bool:
    log = chat.options.get("log")
    return isinstance(log, dict) and log.get("activated_rails") is True


async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if not request.url.path.startswith("/v1/"):
        return await http_exception_handler(request, exc)  # LangServe keeps its own format
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    error = RequestError(str(exc.detail), status=exc.status_code, code=code, headers=exc.headers)
    return await _request_error(request, error)
