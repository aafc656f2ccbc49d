"""A fake OpenAI-compatible upstream on 127.0.0.1 that plays scripted turns with tool calls.

Turn *k* is played when the request holds *k* assistant messages (so an agent loop walks the
script). A turn streams ``reasoning_content`` deltas, then content deltas (word units), then
each tool call in OpenAI's framing (a head with id and name, then argument fragments), then the
finish chunk, a usage chunk when ``stream_options.include_usage`` is set, and ``[DONE]``.
Request bodies are recorded.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class UpstreamTurn:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """``{"name", "args", "id"}``; ``args`` as a string is the raw argument text, sent as is."""
    deltas: list[Any] | None = None
    """Raw ``delta`` objects streamed instead of the ones the fields above make (for
    upstreams that frame tool calls their own way, or send malformed chunks)."""


@dataclass
class FakeUpstream:
    turns: list[UpstreamTurn]
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def turn(self, body: dict[str, Any]) -> UpstreamTurn:
        index = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
        return self.turns[min(index, len(self.turns) - 1)]


def units(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


def raw_args(args: Any) -> str:
    """The argument text of a scripted call: a string as is, anything else as JSON."""
    return args if isinstance(args, str) else json.dumps(args)


def stream_events(turn: UpstreamTurn, usage: bool) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` bodies of one streamed turn."""

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> Any:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 0,
                "model": "upstream", "choices": choices, **extra}  # fmt: skip

    yield chunk({"role": "assistant", "content": ""})
    if turn.deltas is not None:
        yield from (chunk(delta) for delta in turn.deltas)
        yield chunk({}, "stop")
        return
    for part in units(turn.reasoning):
        yield chunk({"reasoning_content": part})
    for part in units(turn.text):
        yield chunk({"content": part})
    for index, call in enumerate(turn.tool_calls):
        head = {"index": index, "id": call["id"], "type": "function",
                "function": {"name": call["name"], "arguments": ""}}  # fmt: skip
        yield chunk({"tool_calls": [head]})
        args = raw_args(call["args"])
        for at in range(0, len(args), 6):
            piece = {"index": index, "function": {"arguments": args[at : at + 6]}}
            yield chunk({"tool_calls": [piece]})
    yield chunk({}, "tool_calls" if turn.tool_calls else "stop")
    if usage:
        n = len(units(turn.text)) + len(turn.tool_calls)
        yield chunk(None, usage={"prompt_tokens": 3, "completion_tokens": n,
                                 "total_tokens": 3 + n})  # fmt: skip


def _handler(fake: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            body = json.loads(raw)
            fake.requests.append(body)
            turn = fake.turn(body)
            self.send_response(200)
            self.send_header("Connection", "close")
            self.close_connection = True
            if not body.get("stream"):
                calls = [{"id": c["id"], "type": "function", "function": {
                    "name": c["name"], "arguments": raw_args(c["args"])}}
                    for c in turn.tool_calls]  # fmt: skip
                message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
                if calls:
                    message["tool_calls"] = calls
                data = json.dumps({"id": "chatcmpl-up", "object": "chat.completion",
                    "created": 0, "model": "upstream", "choices": [{"index": 0,
                    "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1,
                              "total_tokens": 4}}).encode()  # fmt: skip
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            try:
                for event in stream_events(turn, usage):
                    self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@contextmanager
def fake_upstream(turns: list[UpstreamTurn]) -> Iterator[FakeUpstream]:
    """Run the fake upstream on a free port of 127.0.0.1 for the duration of the block."""
    fake = FakeUpstream(turns=turns)
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
