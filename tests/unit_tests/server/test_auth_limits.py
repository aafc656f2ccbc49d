"""API key, CORS, body size and concurrency limits."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from langchain_guardrails.server import create_app

from .conftest import CONFIGS, live_server

USER = [{"role": "user", "content": "What is the capital of France?"}]
JSON_TYPE = {"content-type": "application/json"}


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


@pytest.fixture(scope="module")
def secured() -> Any:
    return create_app(CONFIGS, api_key="s3cret", cors_origins=["https://chat.example"])


@pytest.fixture
async def http(secured: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client(secured) as c:
        yield c


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing API key"),
        ({"Authorization": "Bearer wrong"}, "Incorrect API key provided"),
        ({"Authorization": "s3cret"}, "Incorrect API key provided"),
        ({"Authorization": "Bearer s3cret "}, "Incorrect API key provided"),
    ],
)
async def test_api_key_is_required(
    http: httpx.AsyncClient, headers: dict[str, str], message: str
) -> None:
    for method, path in [
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("POST", "/v1/guardrail/checks"),
    ]:
        response = await http.request(
            method, path, json={"config_id": "plain", "messages": USER}, headers=headers
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }


async def test_right_api_key_and_open_health(http: httpx.AsyncClient) -> None:
    auth = {"Authorization": "Bearer s3cret"}
    response = await http.post(
        "/v1/chat/completions", json={"config_id": "plain", "messages": USER}, headers=auth
    )
    assert response.status_code == 200
    lower = {"Authorization": "bearer s3cret"}  # the scheme is case-insensitive (RFC 9110)
    assert (await http.get("/v1/models", headers=lower)).status_code == 200
    assert (await http.get("/health")).json() == {"status": "ok"}


async def test_openai_sdk_with_api_key(secured: Any) -> None:
    import httpx2

    transport = httpx2.ASGITransport(app=secured)
    for key, ok in [("s3cret", True), ("wrong", False)]:
        http = httpx2.AsyncClient(transport=transport, base_url="http://localhost")
        async with openai.AsyncOpenAI(
            base_url="http://localhost/v1", api_key=key, http_client=http, max_retries=0
        ) as sdk:
            if ok:
                response = await sdk.chat.completions.create(model="plain", messages=USER)  # type: ignore[arg-type]
                assert response.choices[0].message.content == "The capital of France is Paris."
            else:
                with pytest.raises(openai.AuthenticationError, match="Incorrect API key provided"):
                    await sdk.chat.completions.create(model="plain", messages=USER)  # type: ignore[arg-type]


async def test_cors_when_configured(http: httpx.AsyncClient) -> None:
    preflight = await http.options(
        "/v1/chat/completions",
        headers={
            "Origin": "https://chat.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://chat.example"
    denied = await http.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in denied.headers
    # Errors carry CORS headers too, so a browser client can read them.
    unauthorised = await http.get("/v1/models", headers={"Origin": "https://chat.example"})
    assert unauthorised.status_code == 401
    assert unauthorised.headers["access-control-allow-origin"] == "https://chat.example"


async def test_cors_off_by_default(app: Any) -> None:
    async with client(app) as http:
        response = await http.get("/health", headers={"Origin": "https://chat.example"})
        preflight = await http.options(
            "/v1/chat/completions",
            headers={"Origin": "https://chat.example", "Access-Control-Request-Method": "POST"},
        )
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in preflight.headers


async def test_oversized_bodies_get_413() -> None:
    app = create_app(CONFIGS, max_body_bytes=200)
    big = {"config_id": "plain", "messages": [{"role": "user", "content": "x" * 300}]}
    expected = {
        "error": {
            "message": "The request body is larger than the limit of 200 bytes",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_too_large",
        }
    }

    async def chunked() -> AsyncIterator[bytes]:
        yield b'{"config_id": "plain", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 50
        yield b'"}]}'

    async with client(app) as http:
        announced = await http.post("/v1/chat/completions", json=big)
        streamed = await http.post("/v1/chat/completions", content=chunked(), headers=JSON_TYPE)
        small = await http.post(
            "/v1/chat/completions", json={"config_id": "plain", "messages": USER}
        )
    assert (announced.status_code, announced.json()) == (413, expected)
    assert (streamed.status_code, streamed.json()) == (413, expected)
    assert small.status_code == 200


def test_concurrency_limit_answers_503_with_retry_after() -> None:
    app = create_app(CONFIGS, max_concurrency=1)
    body = {"config_id": "slow", "messages": USER, "stream": True}
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        with http.stream("POST", "/v1/chat/completions", json=body) as first:
            assert first.status_code == 200
            lines = first.iter_lines()  # kept: a dropped line iterator closes the response
            next(lines)  # the stream is running
            busy = http.post("/v1/chat/completions", json={"config_id": "plain", "messages": USER})
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "1"
            assert busy.json()["error"] == {
                "message": "The server is at its limit of 1 concurrent requests; retry later",
                "type": "server_error",
                "param": None,
                "code": "server_busy",
            }
            # Listings are not generations: they are never limited.
            assert http.get("/v1/models").status_code == 200
        # The first client left: its slot frees as soon as the server notices.
        deadline = time.monotonic() + 10
        while True:
            again = http.post("/v1/chat/completions", json={"config_id": "plain", "messages": USER})
            if again.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert again.status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_concurrency": 0}, r"max_concurrency must be >= 1 \(got 0\)"),
        ({"max_body_bytes": 0}, r"max_body_bytes must be >= 1 \(got 0\)"),
    ],
)
def test_limit_arguments_are_checked(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_app(CONFIGS, **kwargs)  # type: ignore[arg-type]
