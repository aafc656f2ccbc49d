"""Issue 13 items 1 and 15: slow or half-open clients cannot hold slots; generations have a
deadline. Against a real uvicorn on 127.0.0.1, with bounded loops."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from langchain_guardrails.server import create_app
from langchain_guardrails.server.operations.http_protocol import header_timeout_protocol

from .conftest import CONFIGS, live_server, sse_json

USER = [{"role": "user", "content": "What is the capital of France?"}]
HALF_OPEN = 6  # more than the limit of 2 below


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _half_open(url: str) -> socket.socket:
    """Headers announcing 100 bytes of body, then one byte, then nothing."""
    sock = _connect(url)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    return sock


def _read_response(sock: socket.socket, limit: float = 10.0) -> bytes:
    sock.settimeout(limit)
    data = b""
    deadline = time.monotonic() + limit
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        if time.monotonic() > deadline:
            break
        part = sock.recv(65536)
        if not part:
            break
        data += part
    return data


@pytest.fixture(scope="module", params=["h11", "httptools"])
def served(request: pytest.FixtureRequest) -> Iterator[str]:
    app = create_app(CONFIGS, max_concurrency=2, body_timeout=1.0, request_timeout=0.5)
    with live_server(app, http=header_timeout_protocol(0.5, http=request.param)) as url:
        yield url


def test_half_open_bodies_take_no_slot_and_get_408(served: str) -> None:
    sockets = [_half_open(served) for _ in range(HALF_OPEN)]
    try:
        with httpx.Client(base_url=served, timeout=10) as http:
            response = http.post("/v1/chat/completions", json={"model": "plain", "messages": USER})
        # Before the fix every slot was taken by the half-open bodies: 503.
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == (
            "The capital of France is Paris."
        )
        answers = [_read_response(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ")
        assert json.loads(body) == {
            "error": {
                "message": "The request body did not arrive within 1 s",
                "type": "invalid_request_error",
                "param": None,
                "code": "request_timeout",
            }
        }


def test_slow_headers_are_cut_off(served: str) -> None:
    sock = _connect(served)
    try:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.settimeout(5)
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server, without an answer
        assert time.monotonic() - started < 4
    finally:
        sock.close()


def test_idle_connection_between_requests_is_closed(served: str) -> None:
    sock = _connect(served)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_response(sock).endswith(b'{"status":"ok"}')
        sock.settimeout(10)
        started = time.monotonic()
        assert sock.recv(1024) == b""
        assert time.monotonic() - started < 8
    finally:
        sock.close()


def test_keep_alive_requests_within_the_deadline_are_answered(served: str) -> None:
    sock = _connect(served)
    try:
        for _ in range(3):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert _read_response(sock).endswith(b'{"status":"ok"}')
            time.sleep(0.3)  # under the 0.5 s deadline each time, 0.9 s in all
    finally:
        sock.close()


def test_stream_deadline_ends_with_error_and_done(served: str) -> None:
    body = {"config_id": "slow", "messages": USER, "stream": True}
    with httpx.Client(base_url=served, timeout=10) as http:
        response = http.post("/v1/chat/completions", json=body)
    events = sse_json(response.text)
    assert events[-1] == {
        "error": {
            "message": "The generation did not finish within the request timeout of 0.5 s",
            "type": "server_error",
            "param": None,
            "code": "request_timeout",
        }
    }
    words = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert words.startswith("word ") and len(words.split()) < 176


def test_whole_answer_deadline_is_504(served: str) -> None:
    body = {"config_id": "slow", "messages": USER}
    with httpx.Client(base_url=served, timeout=10) as http:
        response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "request_timeout"
