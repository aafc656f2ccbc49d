"""Rails check what the consumer will see, on every path (issue 20, "Done when").

A blocked phrase is hidden the ways a consumer undoes: JSON ``\\uXXXX`` escapes in tool-call
arguments, fullwidth (NFKC-equivalent) letters, zero-width characters, continuation deltas
without ``index``, reasoning interleaved into the answer's chunks, split at any position into at
most K+1 units. On every path (in-process, the gateway's fast path and LangChain path,
LangServe, the agent middleware), in hold-back mode, no fragment of the *decoded* phrase reaches
the client, and in-process no observer sees one either.

``GUARDRAILS_SWEEP=2000 pytest tests/unit_tests/channels/test_canonical_containment.py`` runs the
long sweep; the suite runs a short one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tracers.context import collect_runs
from pydantic import BaseModel, Field

from langchain_guardrails import Guardrails, RailsConfig, action
from langchain_guardrails.engine.canonical import check_text

from .helpers import EverythingRecorder

PHRASE = "QZJXQKW"
"""Letters no filler, refusal or protocol field contains, so any two of them in a row leak."""
EXAMPLES = int(os.environ.get("GUARDRAILS_SWEEP", "15"))
SIZE, CONTEXT = 9, 7  # a phrase in up to K + 1 = 8 units never leaks in hold-back mode
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
FILLER = st.sampled_from(["ab ", "a. ", "b, ", "ba ", "\n", "ok "])

RAILS: dict[str, Any] = {
    "output": {
        "flows": ["no phrase"],
        "reasoning": "check",
        "streaming": {
            "enabled": True,
            "chunk_size": SIZE,
            "context_size": CONTEXT,
            "stream_first": False,
        },
    },
    "tool_output": {"flows": ["no phrase"]},
}
ACTIONS = f"""\
from langchain_guardrails.config.actions import action


@action(name="no phrase", inline=True)
def no_phrase(text: str) -> bool:
    return {PHRASE!r} not in text
"""


@action(name="no phrase", inline=True)
def no_phrase(text: str) -> bool:
    return PHRASE not in text


# -- the hidden phrase ----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    channel: str
    """Where the phrase is: ``content``, ``reasoning`` or ``tool_args``."""
    pieces: tuple[str, ...]
    """The phrase's units as sent (hidden), in order."""
    interleave: bool
    """Every unit of the phrase's channel also carries one character of the other channel."""
    indexless: bool
    """Tool-call continuation deltas carry no ``index`` (and no id)."""
    before: tuple[str, ...]
    after: tuple[str, ...]


def _hide_char(char: str, how: str, channel: str) -> str:
    if how == "fullwidth":
        return chr(ord(char) + 0xFEE0)
    if how == "zero_width":
        return char + ZERO_WIDTH[ord(char) % len(ZERO_WIDTH)]
    if how == "escape" and channel == "tool_args":
        return f"\\u{ord(char):04x}"  # inside a JSON string: the client decodes it
    return char


@st.composite
def cases(draw: st.DrawFn) -> Case:
    channel = draw(st.sampled_from(["content", "reasoning", "tool_args"]))
    hows = ["plain", "fullwidth", "zero_width"] + (["escape"] * 2 if channel == "tool_args" else [])
    hidden = [_hide_char(c, draw(st.sampled_from(hows)), channel) for c in PHRASE]
    # Cut between hidden characters (an escape is never cut: the unit is still one character).
    cuts = sorted(draw(st.sets(st.integers(1, len(hidden) - 1), max_size=CONTEXT)))
    bounds = [0, *cuts, len(hidden)]
    pieces = tuple("".join(hidden[a:b]) for a, b in itertools.pairwise(bounds))
    return Case(
        channel=channel,
        pieces=pieces,
        interleave=draw(st.booleans()),
        indexless=draw(st.booleans()),
        before=tuple(draw(st.lists(FILLER, max_size=10))),
        after=tuple(draw(st.lists(FILLER, max_size=10))),
    )


def fragments() -> list[str]:
    """Every two-letter run of the phrase: none may reach anyone."""
    return [PHRASE[i : i + 2] for i in range(len(PHRASE) - 1)]


def assert_no_fragment(texts: list[str], where: str) -> None:
    for text in texts:
        seen = check_text(text)
        for fragment in fragments():
            assert fragment not in seen, f"{fragment!r} reached {where}: {seen!r}"


# -- the model's stream, as LangChain chunks and as OpenAI events ---------------------------


def deltas(case: Case) -> list[dict[str, Any]]:
    """The case as OpenAI ``delta`` objects (one per unit)."""
    out: list[dict[str, Any]] = [{"content": t} for t in case.before]
    other = "reasoning_content" if case.channel == "content" else "content"
    if case.channel == "tool_args":
        args = ['{"to": "', *case.pieces, '"}']
        out.append(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "send", "arguments": ""},
                    }
                ]
            }
        )
        for fragment in args:
            call: dict[str, Any] = {"function": {"arguments": fragment}}
            if not case.indexless:
                call["index"] = 0
            delta: dict[str, Any] = {"tool_calls": [call]}
            if case.interleave:
                delta["content"] = "a"
            out.append(delta)
    else:
        key = "content" if case.channel == "content" else "reasoning_content"
        for piece in case.pieces:
            delta = {key: piece}
            if case.interleave:
                delta[other] = "b"
            out.append(delta)
    out += [{"content": t} for t in case.after]
    return out


def lc_chunks(case: Case) -> list[AIMessageChunk]:
    """The same stream as LangChain chunks (what a LangChain chat model yields)."""
    chunks = []
    for delta in deltas(case):
        kwargs = {}
        if "reasoning_content" in delta:
            kwargs["reasoning_content"] = delta["reasoning_content"]
        calls = [
            {
                "name": c.get("function", {}).get("name"),
                "args": c.get("function", {}).get("arguments"),
                "id": c.get("id"),
                "index": c.get("index"),
                "type": "tool_call_chunk",
            }
            for c in delta.get("tool_calls", [])
        ]
        chunks.append(
            AIMessageChunk(
                content=delta.get("content", ""), additional_kwargs=kwargs, tool_call_chunks=calls
            )
        )
    return chunks


class ChunkScript(BaseChatModel):
    """Streams the given chunks as they are, then a usage chunk."""

    script: list[AIMessageChunk] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "chunk-script"

    def _chunks(self) -> Iterator[ChatGenerationChunk]:
        for chunk in self.script:
            yield ChatGenerationChunk(message=chunk.model_copy(deep=True))
        usage = {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
        yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from self._chunks()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks():
            yield chunk

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=""))])

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


# -- what a consumer decodes ----------------------------------------------------------------


def strings(value: Any) -> Iterator[str]:
    """Every string inside ``value`` (messages, dicts, lists), JSON strings decoded too."""
    if isinstance(value, str):
        yield value
        try:
            decoded = json.loads(value)
        except ValueError:
            return
        if not isinstance(decoded, str):
            yield from strings(decoded)
    elif isinstance(value, BaseModel):
        yield from strings(value.model_dump())
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def decoded_openai_stream(events: list[dict[str, Any]]) -> list[str]:
    """What an OpenAI client assembles from a chat stream: content, reasoning, each call's
    name and its JSON-decoded arguments."""
    content, reasoning = [], []
    calls: dict[int, list[str]] = {}
    for event in events:
        for choice in event.get("choices", []):
            delta = choice["delta"]
            content.append(delta.get("content") or "")
            content.append(delta.get("refusal") or "")
            reasoning.append(delta.get("reasoning_content") or "")
            for call in delta.get("tool_calls") or []:
                parts = calls.setdefault(call["index"], [])
                parts.append(call.get("function", {}).get("arguments") or "")
    out = ["".join(content), "".join(reasoning)]
    for parts in calls.values():
        out.extend(strings("".join(parts)))
    return out


# -- the paths ------------------------------------------------------------------------------


async def in_process(case: Case) -> tuple[list[str], list[str]]:
    config = RailsConfig.from_content(config={"rails": RAILS})
    guarded = Guardrails(
        llm=ChunkScript(script=lc_chunks(case)), config=config, actions=[no_phrase]
    )
    recorder = EverythingRecorder()
    with collect_runs() as runs:
        events = [
            e
            async for e in guarded.astream_events(
                "go", config={"callbacks": [recorder]}, version="v2"
            )
        ]
    out = [e["data"]["chunk"] for e in events if e["event"] == "on_chat_model_stream"]
    assert out[-1].response_metadata["guardrails"]["blocked"] is True
    observers = [
        *strings([seen[1:] for seen in recorder.seen]),
        *strings([{k: v for k, v in e.items() if k != "metadata"} for e in events]),
        *strings([(r.inputs, r.outputs) for r in runs.traced_runs]),
    ]
    return list(strings(out)), observers


class _Upstream(BaseHTTPRequestHandler):
    """An OpenAI-compatible upstream that streams ``SCRIPT[0]`` as SSE."""

    script: list[list[dict[str, Any]]] = [[]]

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for delta in [{"role": "assistant", "content": ""}, *self.script[0]]:
            self._event({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, body: dict[str, Any]) -> None:
        body = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m", **body}
        self.wfile.write(b"data: " + json.dumps(body).encode() + b"\n\n")
        self.wfile.flush()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    pytest.importorskip("fastapi")
    pytest.importorskip("langserve")
    from langchain_guardrails.server import create_app

    from ..server.conftest import live_server

    urls = {}
    with ExitStack() as stack:
        base = stack.enter_context(upstream())
        for backend in ("fast", "chatopenai"):
            root: Path = tmp_path_factory.mktemp(backend)
            folder = root / "hidden"
            folder.mkdir()
            folder.joinpath("config.yml").write_text(
                json.dumps(
                    {
                        "models": [
                            {
                                "type": "main",
                                "engine": "openai",
                                "model": "m",
                                "parameters": {
                                    "base_url": base,
                                    "api_key": "unused",
                                    "max_retries": 0,
                                },
                            }
                        ],
                        "rails": RAILS,
                    }
                )
            )
            folder.joinpath("actions.py").write_text(ACTIONS)
            app = create_app(root, fast_path=backend == "fast", langserve=True)
            urls[backend] = stack.enter_context(live_server(app))
        yield urls


def gateway_stream(url: str, case: Case, backend: str) -> list[str]:
    _Upstream.script[0] = deltas(case)
    body = {
        "model": "hidden",
        "stream": True,
        "messages": [{"role": "user", "content": "go"}],
        "tools": [{"type": "function", "function": {"name": "send", "parameters": {}}}],
    }
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 200, response.text
    events = [
        json.loads(line[6:])
        for line in response.text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    # ChatOpenAI drops ``reasoning_content`` deltas: there nothing of that channel is streamed.
    if not (backend == "chatopenai" and case.channel == "reasoning"):
        assert events[-1]["guardrails"]["blocked"] is True
    return decoded_openai_stream(events)


async def langserve_stream(url: str, case: Case) -> list[str]:
    from langserve import RemoteRunnable

    _Upstream.script[0] = deltas(case)
    remote = RemoteRunnable(f"{url}/configs/hidden")
    chunks = [c async for c in remote.astream("go")]
    return list(strings(chunks))


async def agent_stream(case: Case) -> list[str]:
    pytest.importorskip("langchain.agents")
    from langchain.agents import create_agent

    from langchain_guardrails.agents.middleware import GuardrailsMiddleware

    config = RailsConfig.from_content(config={"rails": RAILS})
    agent = create_agent(
        model=ChunkScript(script=lc_chunks(case)),
        middleware=[GuardrailsMiddleware(config=config, actions=[no_phrase])],
    )
    seen: list[Any] = []
    async for _mode, event in agent.astream(
        {"messages": [("user", "go")]}, stream_mode=["messages", "values", "updates"]
    ):
        seen.append(event)
    return list(strings(seen))


# -- the properties -------------------------------------------------------------------------

SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(cases())
def test_in_process_no_fragment_reaches_the_caller_or_an_observer(case: Case) -> None:
    released, observed = asyncio.run(in_process(case))
    assert_no_fragment(released, "the caller")
    assert_no_fragment(observed, "an observer")


@pytest.mark.parametrize("backend", ["fast", "chatopenai"])
def test_gateway_no_fragment_reaches_the_client(backend: str, gateways: dict[str, str]) -> None:
    @SETTINGS
    @given(cases())
    def check(case: Case) -> None:
        texts = gateway_stream(gateways[backend], case, backend)
        assert_no_fragment(texts, f"the {backend} client")

    check()


def test_langserve_no_fragment_reaches_the_client(gateways: dict[str, str]) -> None:
    @SETTINGS
    @given(cases())
    def check(case: Case) -> None:
        texts = asyncio.run(langserve_stream(gateways["chatopenai"], case))
        assert_no_fragment(texts, "the LangServe client")

    check()


@SETTINGS
@given(cases())
def test_middleware_no_fragment_reaches_the_agent_streams(case: Case) -> None:
    assert_no_fragment(asyncio.run(agent_stream(case)), "the agent's streams")
