"""A tiny OpenAI-compatible chat completions server on 127.0.0.1 that records request bodies.

Replies are chosen per request by the ``model`` field (``replies[model]``, a list of chunks).
Usage follows OpenAI: prompt tokens = words in all messages, completion tokens = chunks; a
streamed reply ends with a usage chunk only when ``stream_options.include_usage`` is set.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeOpenAI:
    replies: dict[str, list[str]]
    delay: float = 0.0
    """Seconds between streamed chunks."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    chunks_sent: dict[str, int] = field(default_factory=dict)
    """Per model: content chunks written before the stream ended or the client went away."""
    base_url: str = ""

    def usage(self, body: dict[str, Any], completion: int) -> dict[str, int]:
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            if not raw:  # the client gave up on the request (e.g. a rail call cancelled by a block)
                self.close_connection = True
                return
            body = json.loads(raw)
            fake.requests.append(body)
            model = body["model"]
            chunks = fake.replies[model]
            if body.get("stream"):
                self._stream(body, model, chunks)
            else:
                self._complete(body, model, chunks)

        def _complete(self, body: dict[str, Any], model: str, chunks: list[str]) -> None:
            payload = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(chunks)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": fake.usage(body, len(chunks)),
            }
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            # No keep-alive: clients then leave no pooled sockets behind when a test ends.
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self.wfile.write(data)

        def _stream(self, body: dict[str, Any], model: str, chunks: list[str]) -> None:
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

            sent = 0
            try:
                event([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
                for chunk in chunks:
                    if fake.delay:
                        time.sleep(fake.delay)
                    event([{"index": 0, "delta": {"content": chunk}, "finish_reason": None}])
                    sent += 1
                event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
                if (body.get("stream_options") or {}).get("include_usage"):
                    event([], usage=fake.usage(body, len(chunks)))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                fake.chunks_sent[model] = sent

    return Handler


@contextmanager
def fake_openai_server(replies: dict[str, list[str]], delay: float = 0.0) -> Iterator[FakeOpenAI]:
    """Run the fake server on a random port for the duration of the block."""
    fake = FakeOpenAI(replies=replies, delay=delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
