"""A fake OpenAI-compatible server on 127.0.0.1 for tests, notebooks and demos.

It answers ``POST .../chat/completions`` (streamed and whole) from a script, ``GET .../models``
with the scripted model names, and any extra route a test adds (e.g. NeMo's jailbreak detection
endpoints). Every request is recorded, so a test can assert what a client really sent. Standard
library only: it runs in a background thread, so sync and async clients alike can call it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeAlias

from langchain_guardrails.testing.openai_replies import (
    FakeReply,
    ReplyLike,
    as_turns,
    message_text,
    usage_of,
)

RouteAnswer: TypeAlias = tuple[int, Any] | Callable[[dict[str, Any]], tuple[int, Any]]
"""An extra route's answer: ``(status, payload)`` (``bytes`` are sent as is, anything else as
JSON), or a function of the request's JSON body returning one."""


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    """``GET`` or ``POST``."""
    path: str
    """The request path, e.g. ``/v1/chat/completions``."""
    headers: dict[str, str]
    """The request headers, names as the client sent them."""
    body: dict[str, Any]
    """The JSON body (``{}`` when there was none)."""
    chunks_sent: int = 0
    """Scripted chunks of a streamed reply written before it ended or the client went away:
    proof that a client which stopped reading stopped generation."""

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header, e.g. ``Bearer sk-test``."""
        return next((v for k, v in self.headers.items() if k.lower() == "authorization"), None)


class FakeOpenAIServer:
    """A scripted OpenAI-compatible server on a free port of 127.0.0.1.

    Replies are chosen per chat request: the first ``rules[model]`` entry whose needle occurs in
    the request's messages, else ``replies[model]``, else ``default``; with a list of turns, turn
    *k* answers a request that holds *k* assistant messages (the last one repeats), so an agent
    loop walks the script. A model with no reply gets OpenAI's 404 ``model_not_found``.

    Usage: prompt tokens are the whitespace-separated words of all request messages (or
    ``prompt_tokens`` when set), completion tokens one per content chunk and per tool call.
    Streams end with a usage chunk only when ``stream_options.include_usage`` is set, as OpenAI's
    do. Scripts may be replaced while the server runs (``server.replies = {...}``).

    Args:
        replies: Model name -> its reply (see :data:`ReplyLike`).
        default: The reply of any model not in ``replies``.
        rules: Model name -> ``(needle, reply)`` pairs tried before its reply.
        routes: Path -> answer of extra routes (any method), tried before the OpenAI ones.
        delay: Seconds before each scripted chunk of a stream (a reply's own ``delay`` wins).
        prompt_tokens: A fixed prompt token count to report instead of counting words.

    Example:
        .. code-block:: python

            from langchain_openai import ChatOpenAI
            from langchain_guardrails.testing import FakeOpenAIServer

            with FakeOpenAIServer({"gpt-4o-mini": "Paris is the capital."}) as server:
                llm = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="test")
                assert llm.invoke("Capital of France?").content == "Paris is the capital."
            assert server.chat_requests()[0]["messages"][0]["content"] == "Capital of France?"

        As a pytest fixture:

        .. code-block:: python

            @pytest.fixture
            def server() -> Iterator[FakeOpenAIServer]:
                with FakeOpenAIServer(default="Hello!") as fake:
                    yield fake
    """

    def __init__(
        self,
        replies: Mapping[str, ReplyLike] | None = None,
        *,
        default: ReplyLike | None = None,
        rules: Mapping[str, Sequence[tuple[str, ReplyLike]]] | None = None,
        routes: Mapping[str, RouteAnswer] | None = None,
        delay: float = 0.0,
        prompt_tokens: int | None = None,
    ) -> None:
        self.replies = replies or {}
        self.default = default
        self.rules = rules or {}
        self.routes: dict[str, RouteAnswer] = dict(routes or {})
        """Path -> answer of extra routes; add to it while the server runs."""
        self.delay = delay
        self.prompt_tokens = prompt_tokens
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Scripts are normalised once when set, so a request only looks them up; the getters are
    # read-only views, so `server.replies[m] = ...` fails loudly instead of skipping that step.
    @property
    def replies(self) -> Mapping[str, tuple[FakeReply, ...]]:
        """Model name -> its scripted turns (assign a new mapping to change them)."""
        return MappingProxyType(self._replies)

    @replies.setter
    def replies(self, replies: Mapping[str, ReplyLike]) -> None:
        self._replies = {model: as_turns(reply) for model, reply in replies.items()}

    @property
    def default(self) -> tuple[FakeReply, ...] | None:
        """The turns of any model not in :attr:`replies`."""
        return self._default

    @default.setter
    def default(self, default: ReplyLike | None) -> None:
        self._default = None if default is None else as_turns(default)

    @property
    def rules(self) -> Mapping[str, tuple[tuple[str, FakeReply], ...]]:
        """Model name -> ``(needle, reply)`` pairs tried before its reply (assign to change)."""
        return MappingProxyType(self._rules)

    @rules.setter
    def rules(self, rules: Mapping[str, Sequence[tuple[str, ReplyLike]]]) -> None:
        self._rules = {
            model: tuple((needle, as_turns(reply)[0]) for needle, reply in pairs)
            for model, pairs in rules.items()
        }

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if self._http is None:
            raise RuntimeError("the fake server is not running: use it in a `with` block")
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url``: :attr:`url` + ``/v1``."""
        return self.url + "/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def chat_requests(self, model: str | None = None) -> list[dict[str, Any]]:
        """The JSON bodies of chat completion requests, of one model or of all."""
        return [
            r.body
            for r in self.requests
            if r.path.endswith("/chat/completions") and model in (None, r.body.get("model"))
        ]

    def reply_for(self, body: Mapping[str, Any]) -> FakeReply | None:
        """The scripted reply to a chat completion request body, or ``None`` if there is none."""
        model = str(body.get("model"))
        messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
        rules = self._rules.get(model)
        if rules:
            text = "\n".join(message_text(m) for m in messages)
            for needle, reply in rules:
                if needle in text:
                    return reply
        turns = self._replies.get(model, self._default)
        if not turns:
            return None
        index = sum(1 for m in messages if m.get("role") == "assistant")
        return turns[min(index, len(turns) - 1)]

    def start(self) -> Self:
        """Start serving on a free port in a background thread (``with`` does this)."""
        if self._http is not None:
            raise RuntimeError("the fake server is already running")
        http = _HTTPServer(("127.0.0.1", 0), _Handler)
        http.fake = self
        # Handler threads die with the test process: a client that never closes cannot hang it.
        http.daemon_threads = True
        # A short poll interval keeps stop() (once per test) well under the 0.5 s default.
        self._thread = threading.Thread(
            target=http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._http = http
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; recorded requests stay readable."""
        http, thread = self._http, self._thread
        self._http = self._thread = None
        if http is None:
            return
        http.shutdown()
        http.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # shutdown() waits for the serving loop; the event loop keeps running meanwhile.
        await asyncio.to_thread(self.stop)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _delay_of(self, reply: FakeReply) -> float:
        return self.delay if reply.delay is None else reply.delay


class _HTTPServer(ThreadingHTTPServer):
    fake: FakeOpenAIServer
    # The default backlog of 5 drops the connects of a burst of clients (retried after 1 s).
    request_queue_size = 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read recorded requests, not an access log on stderr

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if length and not raw:  # the client gave up (e.g. a rail call cancelled by a block)
            self.close_connection = True
            return
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._error(400, "the request body is not JSON", "invalid_request_error", None)
            return
        if not isinstance(body, dict):
            self._error(400, "the request body is not a JSON object", "invalid_request_error", None)
            return
        request = RecordedRequest(method, self.path, dict(self.headers.items()), body)
        fake._record(request)
        route = fake.routes.get(self.path)
        if route is not None:
            status, payload = route(body) if callable(route) else route
            self._send(status, payload)
        elif method == "POST" and self.path.endswith("/chat/completions"):
            self._chat(fake, request)
        elif method == "GET" and self.path.endswith("/models"):
            names = sorted({*fake.replies, *fake.rules})
            models = [{"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names]
            self._send(200, {"object": "list", "data": models})
        else:
            self._error(404, f"no route {method} {self.path}", "invalid_request_error", None)

    def _chat(self, fake: FakeOpenAIServer, request: RecordedRequest) -> None:
        body = request.body
        model = str(body.get("model"))
        reply = fake.reply_for(body)
        if reply is None:
            message = f"The model `{model}` does not exist (no reply is scripted for it)"
            self._error(404, message, "invalid_request_error", "model_not_found")
            return
        usage = usage_of(body, reply, fake.prompt_tokens)
        if not body.get("stream"):
            self._send(200, reply.completion(model, usage))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        scripted = sum(1 for _ in reply.scripted_deltas())
        delay = fake._delay_of(reply)
        try:
            for at, event in enumerate(reply.stream(model, usage if include_usage else None)):
                # Events 1..scripted are the reply's own chunks; the role, finish and usage
                # chunks around them come at once, as a real server sends them.
                if delay and 1 <= at <= scripted:
                    time.sleep(delay)
                self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                self.wfile.flush()
                if 1 <= at <= scripted:
                    request.chunks_sent += 1
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except ConnectionError:
            pass  # the client stopped reading: what was sent is in request.chunks_sent

    def _error(self, status: int, message: str, kind: str, code: str | None) -> None:
        self._send(
            status, {"error": {"message": message, "type": kind, "param": None, "code": code}}
        )

    def _send(self, status: int, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        # No keep-alive: clients then leave no pooled sockets behind when a test ends.
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        with contextlib.suppress(ConnectionError):
            self.wfile.write(data)


__all__ = ["FakeOpenAIServer", "RecordedRequest", "RouteAnswer"]
