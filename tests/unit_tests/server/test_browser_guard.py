"""Issue 13 item 11: DNS rebinding and blind cross-site requests are refused."""

from __future__ import annotations

from typing import Any

import httpx

from langchain_guardrails.server import create_app

from .conftest import CONFIGS

BODY = b'{"model": "plain", "messages": [{"role": "user", "content": "Hi"}]}'


async def send(app: Any, method: str, headers: dict[str, str], body: bytes = b"") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        path = "/v1/chat/completions" if method == "POST" else "/v1/models"
        return await http.request(method, path, content=body or None, headers=headers)


def error(message: str, code: str) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    }


async def test_foreign_host_is_refused(app: Any) -> None:
    # Before the fix: 200 (a rebound DNS name reached the keyless server).
    response = await send(app, "GET", {"host": "evil.example:8000"})
    assert (response.status_code, response.json()) == (
        403,
        error(
            "Host 'evil.example:8000' is not served here (allow it with --allowed-host)",
            "host_not_allowed",
        ),
    )


async def test_loopback_hosts_are_served(app: Any) -> None:
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        response = await send(app, "GET", {"host": host})
        assert response.status_code == 200, host


async def test_allowed_host_and_wildcard() -> None:
    named = create_app(CONFIGS, allowed_hosts=["api.internal"])
    assert (await send(named, "GET", {"host": "api.internal:80"})).status_code == 200
    assert (await send(named, "GET", {"host": "localhost"})).status_code == 403
    anyhost = create_app(CONFIGS, allowed_hosts=["*"])
    assert (await send(anyhost, "GET", {"host": "whatever"})).status_code == 200


async def test_cross_site_text_plain_post_is_refused(app: Any) -> None:
    # Before the fix: 200 (a "simple" cross-site request needs no CORS preflight).
    headers = {"content-type": "text/plain", "origin": "https://evil.example"}
    response = await send(app, "POST", headers, BODY)
    assert (response.status_code, response.json()) == (
        403,
        error(
            "Cross-origin requests from 'https://evil.example' are not allowed "
            "(allow the origin with --cors-origin)",
            "origin_not_allowed",
        ),
    )


async def test_post_must_be_json(app: Any) -> None:
    response = await send(app, "POST", {"content-type": "text/plain"}, BODY)
    assert (response.status_code, response.json()) == (
        415,
        error("The request Content-Type must be application/json", "bad_media"),
    )
    charset = {"content-type": "application/json; charset=utf-8"}
    assert (await send(app, "POST", charset, BODY)).status_code == 200


async def test_same_origin_and_allowed_origins_pass() -> None:
    app = create_app(CONFIGS, cors_origins=["https://ui.example"])
    json_type = {"content-type": "application/json"}
    same = await send(app, "POST", {**json_type, "origin": "http://localhost"}, BODY)
    allowed = await send(app, "POST", {**json_type, "origin": "https://ui.example"}, BODY)
    other = await send(app, "POST", {**json_type, "origin": "https://other.example"}, BODY)
    assert (same.status_code, allowed.status_code, other.status_code) == (200, 200, 403)
    assert allowed.headers["access-control-allow-origin"] == "https://ui.example"
