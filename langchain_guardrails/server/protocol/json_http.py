"""JSON in and out of the gateway: the request body decoded once, responses that survive lone
surrogates in model text, and the error handlers that answer in OpenAI's error format."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from langchain_guardrails.server.operations.auth import ANTHROPIC_PATH, anthropic_error
from langchain_guardrails.server.operations.limits import JSON_KEY
from langchain_guardrails.server.protocol.completions import json_bytes
from langchain_guardrails.server.protocol.openai_schema import RequestError


class JSONBody(JSONResponse):
    """JSON that survives a lone surrogate in model text (sent as U+FFFD)."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


async def request_json(request: Request) -> Any:
    if JSON_KEY in request.scope:
        return request.scope[JSON_KEY]  # decoded once, by RequestBodyMiddleware
    raw = await request.body()
    if not raw.strip():
        raise RequestError("The request body is empty; expected a JSON object", code="invalid_json")
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise RequestError(
            "The request body is nested too deeply (JSON)", code="invalid_json"
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(
            f"The request body is not valid JSON: {exc}", code="invalid_json"
        ) from exc


async def request_error_response(request: Request, exc: RequestError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def http_error_response(request: Request, exc: StarletteHTTPException) -> Response:
    if not request.url.path.startswith("/v1/"):
        return await http_exception_handler(request, exc)  # LangServe keeps its own format
    if request.url.path == ANTHROPIC_PATH:
        body = anthropic_error(exc.status_code, str(exc.detail))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    error = RequestError(str(exc.detail), status=exc.status_code, code=code, headers=exc.headers)
    return await request_error_response(request, error)


__all__ = ["JSONBody", "http_error_response", "request_error_response", "request_json"]
