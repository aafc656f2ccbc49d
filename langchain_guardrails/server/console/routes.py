"""The console's routes: the page and its static files at ``/ui`` (served without an API key:
they hold no data, and the page asks for the key), and its API at ``/ui/api/...`` (behind the
API key, Host and Origin rules of every other route)."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from langchain_guardrails.server.console.eval_run import examples_of, run_eval, shipped_datasets
from langchain_guardrails.server.console.modes import ModeVariants, parse_mode
from langchain_guardrails.server.console.rail_stats import config_rails, rail_rows
from langchain_guardrails.server.console.run_stream import console_stream
from langchain_guardrails.server.protocol.json_http import JSONBody, request_json
from langchain_guardrails.server.protocol.openai_messages import parse_messages
from langchain_guardrails.server.protocol.request_error import RequestError
from langchain_guardrails.server.protocol.route_deps import RouteDeps

STATIC = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
"""The static files besides the page, with their media types (nothing else is served)."""
_SECURITY_HEADERS = {
    # The page runs only its own script; eval reports are shown in a sandboxed frame.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-src 'self' about: data:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _static(name: str) -> str:
    return files("langchain_guardrails.server.console").joinpath("static", name).read_text("utf-8")


def add_console_routes(
    app: FastAPI,
    deps: RouteDeps,
    *,
    served_ids: Callable[[], list[str]],
    debug: bool = False,
) -> None:
    """Serve the console on ``app``: ``GET /ui`` and its API (see the module docstring).

    ``debug`` (``--console-debug``) shows unreleased model text, marked on every page.
    """
    page = _static("console.html").replace('data-debug="0"', f'data-debug="{int(debug)}"')
    assets = {name: _static(name) for name in STATIC}
    variants = ModeVariants()

    @app.get("/ui", include_in_schema=False)
    async def console_page() -> Response:
        return HTMLResponse(page, headers=_SECURITY_HEADERS)

    @app.get("/ui/static/{name}", include_in_schema=False)
    async def console_static(name: str) -> Response:
        if name not in assets:
            return JSONBody({"error": {"message": f"no such file: {name}"}}, status_code=404)
        return Response(assets[name], media_type=STATIC[name], headers=_SECURITY_HEADERS)

    @app.get("/ui/api/configs", include_in_schema=False)
    async def console_configs() -> dict[str, Any]:
        listed: list[dict[str, Any]] = []
        for config_id in served_ids():
            try:
                guarded, _ = await deps.guardrails_for(config_id, None)
            except RequestError as exc:  # a broken config: listed with its short error
                listed.append({"id": config_id, "error": exc.message, "rails": []})
                continue
            streaming = guarded.config.rails.output.streaming
            listed.append(
                {
                    "id": config_id,
                    "mode": "stream_first" if streaming.stream_first else "hold_back",
                    "chunk_size": streaming.chunk_size,
                    "context_size": streaming.context_size,
                    "rails": [list(r) for r in config_rails(guarded.config)],
                }
            )
        return {"configs": listed, "debug": debug, "default": deps.default_model}

    @app.post("/ui/api/run", include_in_schema=False, response_model=None)
    async def console_run(request: Request) -> Response:
        body = await request_json(request)
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object")
        mode = parse_mode(body.get("mode"))
        config_id = body.get("config_id")
        if config_id is not None and not isinstance(config_id, str):
            raise RequestError("config_id must be a string", param="config_id")
        messages = parse_messages(body.get("messages"))
        guarded, config_id = await deps.guardrails_for(config_id, None)
        guarded = variants.get(guarded, mode, debug=debug)
        return console_stream(request, deps, guarded, config_id, messages, mode, debug=debug)

    @app.get("/ui/api/rails", include_in_schema=False)
    async def console_rails(config_id: str | None = None) -> dict[str, Any]:
        guarded, config_id = await deps.guardrails_for(config_id, None)
        rows = rail_rows(deps.metrics, config_id, config_rails(guarded.config))
        return {
            "config_id": config_id,
            "rails": rows,
            "metrics": deps.metrics is not None,
            "all_requests_timed": deps.rail_metrics,
        }

    @app.get("/ui/api/datasets", include_in_schema=False)
    async def console_datasets() -> dict[str, Any]:
        return {"datasets": shipped_datasets()}

    @app.post("/ui/api/eval", include_in_schema=False)
    async def console_eval(request: Request) -> Response:
        body = await request_json(request)
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object")
        config_id = body.get("config_id")
        if config_id is not None and not isinstance(config_id, str):
            raise RequestError("config_id must be a string", param="config_id")
        name, examples = examples_of(body)
        guarded, config_id = await deps.guardrails_for(config_id, None)
        report = await run_eval(guarded.config, config_id, name, examples)
        return JSONBody(
            {"config_id": config_id, "dataset": name, "examples": len(examples), "html": report}
        )


__all__ = ["add_console_routes"]
