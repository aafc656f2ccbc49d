"""Issue 14 item 4: the lean upstream client (asyncio + httptools) byte by byte, against raw
servers on 127.0.0.1 that frame their answers in every way HTTP/1.1 allows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from langchain_guardrails.server.upstream.client import (
    OpenAICompatibleChat,
    UpstreamError,
    text_generation,
)
from langchain_guardrails.server.upstream.sse_client import (
    ConnectionPool,
    Endpoint,
    lean_route,
    post_events,
)
from langchain_guardrails.testing import FakeOpenAIServer, FakeReply

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


class Raw:
    """What a raw server saw: the request bytes, and whether the client closed first."""

    def __init__(self) -> None:
        self.request = b""
        self.client_closed = asyncio.Event()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One whole request (head and Content-Length body), as bytes."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))  # fmt: skip
    return head + await reader.readexactly(length)


@asynccontextmanager
async def raw_server(
    answer: Callable[[asyncio.StreamWriter, Raw], Awaitable[None]],
) -> AsyncIterator[tuple[str, Raw]]:
    seen = Raw()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.request = await read_request(reader)
        try:
            await answer(writer, seen)
            if await reader.read() == b"":
                seen.client_closed.set()
        except (ConnectionError, OSError):
            seen.client_closed.set()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/chat/completions", seen
    finally:
        server.close()


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


async def collect(url: str, **options: Any) -> list[bytes]:
    events = post_events(url, {"Content-Type": "application/json"}, b'{"a":1}',
                         read_timeout=options.pop("read_timeout", 5.0), **options)  # fmt: skip
    async with aclosing(events):
        return [e async for e in events]


async def test_chunked_events_split_anywhere_are_reassembled_exactly() -> None:
    body = (b': keep-alive\r\n\r\ndata: {"n":1}\r\n\r\nevent: message\nid: 7\ndata: {"n":\n'
            b'data: 2}\n\ndata:{"n":3}\n\ndata: [DONE]\n\n')  # fmt: skip
    framed = chunked(body[:5], body[5:31], body[31:32], body[32:])

    async def answer(writer: asyncio.StreamWriter, seen: Raw) -> None:
        writer.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        for at in range(0, len(framed), 7):  # 7-byte TCP writes
            writer.write(framed[at : at + 7])
            await writer.drain()
            await asyncio.sleep(0)

    async with raw_server(answer) as (url, seen):
        events = await collect(url)
    assert events == [b'{"n":1}', b'{"n":\n2}', b'{"n":3}']
    head, _, sent = seen.request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    port = url.split(":")[2].split("/")[0]
    assert lines[0] == b"POST /v1/chat/completions HTTP/1.1"
    assert f"Host: 127.0.0.1:{port}".encode() in lines
    assert b"Content-Length: 7" in lines and b"Content-Type: application/json" in lines
    assert sent == b'{"a":1}'


async def test_a_body_ended_by_the_connection_keeps_its_last_event() -> None:
    async def answer(writer: asyncio.StreamWriter, seen: Raw) -> None:
        writer.write(HEAD + b"Connection: close\r\n\r\ndata: one\n\ndata: two")
        await writer.drain()
        writer.close()

    async with raw_server(answer) as (url, _):
        assert await collect(url) == [b"one", b"two"]


async def test_done_closes_the_connection_at_once() -> None:
    async def answer(writer: asyncio.StreamWriter, seen: Raw) -> None:
        writer.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        writer.write(chunked(b"data: x\n\ndata: [DONE]\n\n")[:-5])  # no terminating chunk
        await writer.drain()  # then the server waits for the client to close

    async with raw_server(answer) as (url, seen):
        assert await collect(url) == [b"x"]
        await asyncio.wait_for(seen.client_closed.wait(), 5)


@pytest.mark.parametrize("pooled", [False, True])
async def test_a_reader_that_stops_early_closes_the_connection(pooled: bool) -> None:
    async def answer(writer: asyncio.StreamWriter, seen: Raw) -> None:
        writer.write(HEAD + b"Connection: close\r\n\r\n")
        for n in range(1000):
            writer.write(b"data: %d\n\n" % n)
            await writer.drain()
            await asyncio.sleep(0.01)

    pool = ConnectionPool(max_idle=4) if pooled else None
    async with raw_server(answer) as (url, seen):
        events = post_events(url, {}, b"{}", read_timeout=5, pool=pool)
        async with aclosing(events):
            assert await anext(events) == b"0"
        # Closed, not kept: what is left of the answer would be read by the next request.
        await asyncio.wait_for(seen.client_closed.wait(), 5)
    if pool is not None:
        assert pool._idle.get(("http", "127.0.0.1", int(url.split(":")[2].split("/")[0]))) in (
            None, [],
        )  # fmt: skip


@pytest.mark.parametrize(
    ("answer_bytes", "error", "message"),
    [
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"9\r\ndata: x\n\n\r\n",
         httpx.RemoteProtocolError, "the upstream closed the connection mid-answer"),
        (HEAD + b"Content-Length: 100\r\n\r\n" + b"data: x\n\n",
         httpx.RemoteProtocolError, "the upstream closed the connection mid-answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-",
         httpx.RemoteProtocolError, "the upstream closed the connection before answering"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
         httpx.RemoteProtocolError, "the upstream answered JSON, not events"),
        (b"NOT HTTP AT ALL\r\n\r\n", httpx.RemoteProtocolError, "not HTTP/1.1"),
        (HEAD + b"Content-Encoding: gzip\r\nConnection: close\r\n\r\n\x1f\x8b",
         httpx.RemoteProtocolError, r"compressed its answer \(gzip\) although asked not to"),
    ],
)  # fmt: skip
async def test_broken_answers_are_transport_errors(
    answer_bytes: bytes, error: type[Exception], message: str
) -> None:
    async def answer(writer: asyncio.StreamWriter, seen: Raw) -> None:
        writer.write(answer_bytes)
        await writer.drain()
        writer.close()

    async with raw_server(answer) as (url, _):
        with pytest.raises(error, match=message):
            await collect(url)


async def test_an_event_that_never_ends_is_cut_off() -> None:
    async def answer(writer: asyncio.StreamWriter, seen: Raw) -> None:
        writer.write(HEAD + b"Connection: close\r\n\r\ndata: ok\n\ndata: ")
        for _ in range(600):  # 9.4 MiB without a line break
            writer.write(b"x" * 16384)
            await writer.drain()

    async with raw_server(answer) as (url, _):
        events = post_events(url, {}, b"{}", read_timeout=5)
        async with aclosing(events):
            assert await anext(events) == b"ok"
            with pytest.raises(httpx.RemoteProtocolError, match="an upstream event exceeds 8 MiB"):
                await anext(events)


async def test_silence_is_a_read_timeout() -> None:
    async def answer(writer: asyncio.StreamWriter, seen: Raw) -> None:
        writer.write(HEAD + b"Connection: close\r\n\r\ndata: a\n\n")
        await writer.drain()
        await asyncio.sleep(3)

    async with raw_server(answer) as (url, _):
        events = post_events(url, {}, b"{}", read_timeout=0.3)
        async with aclosing(events):
            assert await anext(events) == b"a"
            with pytest.raises(httpx.ReadTimeout, match=r"no bytes from the upstream for 0.3 s"):
                await anext(events)


async def test_a_refused_connection_is_a_connect_error_after_the_retries() -> None:
    with pytest.raises(httpx.ConnectError, match="could not connect"):
        await collect("http://127.0.0.1:9/v1/chat/completions", retries=1)


def test_headers_with_line_breaks_are_refused() -> None:
    events = post_events("http://127.0.0.1:9/x", {"X-A": "1\r\nX-Injected: 2"}, b"", read_timeout=1)
    with pytest.raises(ValueError, match="header 'X-A' holds a line break or NUL"):
        asyncio.run(anext(events))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.com/v1/chat/completions",
         ("http", "example.com", 80, "/v1/chat/completions", "example.com")),
        ("https://example.com:8443/v1/x?a=1",
         ("https", "example.com", 8443, "/v1/x?a=1", "example.com:8443")),
        ("http://[::1]:8000/v1/x", ("http", "::1", 8000, "/v1/x", "[::1]:8000")),
    ],
)  # fmt: skip
def test_endpoints(url: str, expected: tuple[Any, ...]) -> None:
    endpoint = Endpoint.parse(url)
    assert (endpoint.scheme, endpoint.host, endpoint.port, endpoint.target,
            endpoint.authority) == expected  # fmt: skip


def test_only_http_urls_are_endpoints() -> None:
    with pytest.raises(ValueError, match=r"must be http:// or https:// with a host: 'ftp://x/'"):
        Endpoint.parse("ftp://x/")


def test_proxies_and_credentials_keep_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy",
                 "https_proxy", "all_proxy", "no_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert lean_route("http://10.0.0.5:8000/v1/chat/completions")
    assert not lean_route("http://user:pw@10.0.0.5:8000/v1/chat/completions")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    assert not lean_route("http://10.0.0.5:8000/v1/chat/completions")
    assert lean_route("https://10.0.0.5:8000/v1/chat/completions")  # no https proxy set
    monkeypatch.setenv("NO_PROXY", "10.0.0.5")
    assert lean_route("http://10.0.0.5:8000/v1/chat/completions")


# --- through OpenAICompatibleChat ---------------------------------------------------------


@pytest.mark.parametrize("split", [False, True])
async def test_error_status_names_status_and_code_only(split: bool) -> None:
    body = json.dumps({"error": {"message": "secret prompt text", "code": "rate_limited"}})

    async def answer(writer: asyncio.StreamWriter, seen: Raw) -> None:
        writer.write(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))  # fmt: skip
        if split:  # the head first, the body a moment later
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(body.encode())
        await writer.drain()

    async with raw_server(answer) as (url, _):
        model = OpenAICompatibleChat(model="m", base_url=url.removesuffix("/chat/completions"))
        with pytest.raises(UpstreamError) as raised:
            await model.ainvoke("hi")
    assert str(raised.value) == "upstream answered HTTP 429 (rate_limited)"


async def test_an_error_event_mid_stream_is_an_error_not_an_ending() -> None:
    event = {"error": {"message": "secret prompt text", "type": "server_error",
                       "code": "engine_overloaded"}}  # fmt: skip

    async def answer(writer: asyncio.StreamWriter, seen: Raw) -> None:
        text = {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}
        writer.write(HEAD + b"Connection: close\r\n\r\n")
        writer.write(b"data: %s\n\ndata: %s\n\n" % (json.dumps(text).encode(),
                                                   json.dumps(event).encode()))  # fmt: skip
        await writer.drain()

    async with raw_server(answer) as (url, _):
        model = OpenAICompatibleChat(model="m", base_url=url.removesuffix("/chat/completions"))
        seen: list[str] = []
        with pytest.raises(UpstreamError) as raised:
            async for chunk in model.astream("hi"):
                seen.append(chunk.text)
    assert seen == ["Hel"]
    assert str(raised.value) == "upstream reported an error mid-stream (engine_overloaded)"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (b"secret text, not JSON", "upstream sent an event that is not JSON"),
        (b'["secret"]', "upstream sent an event that is not a JSON object"),
    ],
)
async def test_events_that_are_not_chunks_are_errors_without_their_text(
    event: bytes, message: str
) -> None:
    async def answer(writer: asyncio.StreamWriter, seen: Raw) -> None:
        writer.write(HEAD + b"Connection: close\r\n\r\ndata: " + event + b"\n\n")
        await writer.drain()

    async with raw_server(answer) as (url, _):
        model = OpenAICompatibleChat(model="m", base_url=url.removesuffix("/chat/completions"))
        with pytest.raises(UpstreamError) as raised:
            await model.ainvoke("hi")
    assert str(raised.value) == message


async def test_lean_and_httpx_clients_yield_the_same_chunks() -> None:
    turn = FakeReply(reasoning="hmm ", text="Hi there, friend.",
                        tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}])  # fmt: skip
    with FakeOpenAIServer(default=turn) as upstream:
        lean = OpenAICompatibleChat(model="m", base_url=upstream.base_url, api_key="k")
        with_httpx = OpenAICompatibleChat(model="m", base_url=upstream.base_url, api_key="k")
        with_httpx._lean = False  # as when a proxy of the environment applies
        via_lean = [c async for c in lean.astream("hi")]
        via_httpx = [c async for c in with_httpx.astream("hi")]
    assert len(upstream.chat_requests()) == 2
    assert [c.model_dump(exclude={"id"}) for c in via_lean] == [
        c.model_dump(exclude={"id"}) for c in via_httpx
    ]
    assert "".join(c.text for c in via_lean) == "Hi there, friend."
    # One chunk per upstream event, then LangChain's closing marker.
    assert [c.chunk_position for c in via_lean].count("last") == 1
    assert len(via_lean) - 1 == len(list(turn.stream("m", usage={"prompt_tokens": 1})))


def test_text_generation_equals_the_validated_construction() -> None:
    fast = text_generation("Hi ")
    validated = ChatGenerationChunk(message=AIMessageChunk(content="Hi "))
    assert fast == validated
    assert fast.model_dump() == validated.model_dump()
    assert fast.message.model_fields_set == validated.message.model_fields_set
    assert (fast + validated).text == "Hi Hi "
    assert fast.message.content_blocks == validated.message.content_blocks
    # Fresh containers per chunk: changing one chunk's metadata leaves the next alone.
    fast.message.response_metadata["x"] = 1
    assert text_generation("a").message.response_metadata == {}


async def test_https_urls_speak_tls() -> None:
    hello: list[bytes] = []

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello.append(await reader.read(5))
        writer.close()  # a plain server hangs up on a TLS handshake

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        model = OpenAICompatibleChat(model="m", base_url=f"https://127.0.0.1:{port}/v1",
                                     max_retries=0, timeout=5)  # fmt: skip
        with pytest.raises(httpx.ConnectError, match="could not connect"):
            await model.ainvoke("hi")
    finally:
        server.close()
    assert hello[0][:1] == b"\x16"  # a TLS handshake record, not an HTTP request line


# --- connection reuse ---------------------------------------------------------------------


@asynccontextmanager
async def keep_alive_server(
    close_after: int | None = None,
) -> AsyncIterator[tuple[str, list[int]]]:
    """Answers every request of a connection (chunked, keep-alive); ``requests[i]`` is the
    connection number of request i. With ``close_after``, a connection is closed (idle) after
    that many answers."""
    requests: list[int] = []
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        number, served = connections, 0
        try:
            while close_after is None or served < close_after:
                await read_request(reader)
                requests.append(number)
                served += 1
                writer.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
                event = {"choices": [{"index": 0, "delta": {"content": str(len(requests))}}]}
                writer.write(chunked(b"data: %s\n\n" % json.dumps(event).encode(),
                                     b"data: [DONE]\n\n"))  # fmt: skip
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/chat/completions", requests
    finally:
        server.close()


async def test_a_pool_reuses_a_connection_after_a_whole_answer() -> None:
    pool = ConnectionPool(max_idle=4)
    async with keep_alive_server() as (url, requests):
        answers = [await collect(url, pool=pool) for _ in range(3)]
        pool.close()
    assert [json.loads(a[0])["choices"][0]["delta"]["content"] for a in answers] == ["1", "2", "3"]
    assert requests == [1, 1, 1]  # one connection for all three


async def test_a_connection_closed_while_idle_is_replaced_transparently() -> None:
    pool = ConnectionPool(max_idle=4)
    async with keep_alive_server(close_after=1) as (url, requests):
        first = await collect(url, pool=pool)
        await asyncio.sleep(0.05)  # the server has closed the idle connection by now
        second = await collect(url, pool=pool)
        pool.close()
    assert [len(first), len(second)] == [1, 1]
    assert requests == [1, 2]


async def test_idle_connections_expire_and_the_pool_is_bounded() -> None:
    pool = ConnectionPool(max_idle=1, idle_seconds=0.1)
    async with keep_alive_server() as (url, requests):
        await asyncio.gather(collect(url, pool=pool), collect(url, pool=pool))  # two at once
        await collect(url, pool=pool)  # reuses the one kept (max_idle=1)
        await asyncio.sleep(0.2)
        await collect(url, pool=pool)  # the kept one expired: a new connection
        pool.close()
    assert sorted(requests[:2]) == [1, 2]
    assert requests[2] in (1, 2) and requests[3] == 3


def test_a_pool_needs_room() -> None:
    with pytest.raises(ValueError, match=r"max_idle must be >= 1 \(got 0\)"):
        ConnectionPool(max_idle=0)


async def test_the_model_reuses_connections_when_asked() -> None:
    async with keep_alive_server() as (url, requests):
        base = url.removesuffix("/chat/completions")
        pooled = OpenAICompatibleChat(model="m", base_url=base)  # reuse is the default
        fresh = OpenAICompatibleChat(model="m", base_url=base, keepalive_connections=0)
        texts = [(await pooled.ainvoke("hi")).text for _ in range(2)]
        texts += [(await fresh.ainvoke("hi")).text for _ in range(2)]
    assert texts == ["1", "2", "3", "4"]
    assert requests == [1, 1, 2, 3]
