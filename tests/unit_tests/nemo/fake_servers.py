"""Fake HTTP servers on 127.0.0.1 for the NeMo-compatibility tests.

One server answers both OpenAI-compatible chat completions (``POST .../chat/completions``,
streaming or not) and NeMo's jailbreak detection routes (``POST /heuristics``, ``POST /model``,
``POST /v1/classify``). Replies are chosen by the request's ``model`` and by rules: the first
rule whose needle occurs in the request's messages gives the reply. Every request is recorded
with its path, body and ``Authorization`` header.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    authorization: str | None


@dataclass
class FakeServer:
    replies: dict[str, list[str]] = field(default_factory=dict)
    """Model name -> chunks of its default reply."""
    rules: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Model name -> ``(needle, reply)`` pairs tried before the default reply."""
    jailbreak: dict[str, Any] = field(default_factory=dict)
    """Route path -> ``(status, body)`` to answer, or a callable of the request body."""
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def chat_requests(self, model: str | None = None) -> list[dict[str, Any]]:
        return [
            r.body
            for r in self.requests
            if r.path.endswith("/chat/completions") and model in (None, r.body.get("model"))
        ]

    def reply(self, body: dict[str, Any]) -> list[str]:
        model = body["model"]
        text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        for needle, answer in self.rules.get(model, []):
            if needle in text:
                return [answer]
        return self.replies[model]


def _handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw) if raw else {}
            fake.requests.append(Recorded(self.path, body, self.headers.get("Authorization")))
            if self.path.endswith("/chat/completions"):
                self._chat(body)
                return
            answer = fake.jailbreak.get(self.path)
            if answer is None:
                self._send(404, {"error": "no such route"})
                return
            status, payload = answer(body) if callable(answer) else answer
            self._send(status, payload)

        def _send(self, status: int, payload: Any) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self.wfile.write(data)

        def _chat(self, body: dict[str, Any]) -> None:
            chunks = fake.reply(body)
            model = body["model"]
            usage = {"prompt_tokens": 3, "completion_tokens": len(chunks), "total_tokens": 3}
            usage["total_tokens"] += len(chunks)
            if not body.get("stream"):
                message = {"role": "assistant", "content": "".join(chunks)}
                choice = {"index": 0, "message": message, "finish_reason": "stop"}
                self._send(
                    200,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": 0,
                        "model": model,
                        "choices": [choice],
                        "usage": usage,
                    },
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

            def event(choices: list[dict[str, Any]], **extra: Any) -> None:
                payload = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": choices,
                    **extra,
                }
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()

            try:
                event([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
                for chunk in chunks:
                    event([{"index": 0, "delta": {"content": chunk}, "finish_reason": None}])
                event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
                if (body.get("stream_options") or {}).get("include_usage"):
                    event([], usage=usage)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@contextmanager
def fake_server(**settings: Any) -> Iterator[FakeServer]:
    """Run a :class:`FakeServer` on a random 127.0.0.1 port for the duration of the block."""
    fake = FakeServer(**settings)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
