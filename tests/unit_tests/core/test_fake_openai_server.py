"""``langchain_guardrails.testing.FakeOpenAIServer`` against the real ``openai`` SDK and
``ChatOpenAI``: whole and streamed replies, tool calls, reasoning, usage, rules, turns, extra
routes, errors, and what it records."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

import langchain_guardrails.testing as testing
from langchain_guardrails.testing import FakeOpenAIServer, FakeReply

pytestmark = pytest.mark.requires("langchain_openai")

WEATHER = {"name": "weather", "args": {"city": "Paris"}, "id": "c1"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def client(server: FakeOpenAIServer) -> Any:
    import openai

    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def chat(server: FakeOpenAIServer, model: str = "gpt-test", **kwargs: Any) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model, base_url=server.base_url, api_key="sk-test", max_retries=0, **kwargs
    )


def test_the_public_names() -> None:
    assert testing.__all__ == [
        "FakeOpenAIServer",
        "FakeReply",
        "FakeStreamingChatModel",
        "FakeToolCallingModel",
        "FakeTurn",
        "ProductionStats",
        "RecordedRequest",
        "ReplyLike",
        "RouteAnswer",
        "ScriptedChatModel",
        "ScriptedReply",
        "split_units",
    ]
    assert all(hasattr(testing, name) for name in testing.__all__)


def test_openai_sdk_whole_completion_and_recorded_request() -> None:
    with FakeOpenAIServer({"gpt-test": "Paris is the capital."}) as server:
        completion = client(server).chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "Capital of France?"}],
            temperature=0,
        )
    assert completion.model_dump(exclude_none=True) == {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Paris is the capital."},
            }
        ],
        # prompt = words of the messages; completion = one per streamed unit
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    (request,) = server.requests
    assert (request.method, request.path, request.authorization) == (
        "POST",
        "/v1/chat/completions",
        "Bearer sk-test",
    )
    assert request.body == {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "Capital of France?"}],
        "temperature": 0,
    }
    assert server.chat_requests("gpt-test") == [request.body]
    assert server.chat_requests("other") == []


def test_openai_sdk_stream_with_reasoning_and_usage() -> None:
    reply = FakeReply(reasoning="Think first.", chunks=["Par", "is."])
    with FakeOpenAIServer(default=reply, prompt_tokens=5) as server:
        stream = client(server).chat.completions.create(
            model="any",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        # exclude_unset: exactly the fields on the wire, without the SDK's defaults
        events = [chunk.model_dump(exclude_unset=True) for chunk in stream]
    assert [e["choices"][0]["delta"] if e["choices"] else e["usage"] for e in events] == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Think "},
        {"reasoning_content": "first."},
        {"content": "Par"},
        {"content": "is."},
        {},
        {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    ]
    assert [e["choices"][0]["finish_reason"] for e in events[:-1]] == [None] * 5 + ["stop"]
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert events == list(reply.stream("any", usage))
    assert server.requests[0].chunks_sent == 4


def test_a_stream_without_include_usage_has_no_usage_chunk() -> None:
    with FakeOpenAIServer({"m": ["a", "b"]}) as server:
        stream = client(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        events = [chunk.model_dump(exclude_none=True) for chunk in stream]
    assert [e["choices"][0]["delta"] for e in events] == [
        {"role": "assistant", "content": ""},
        {"content": "a"},
        {"content": "b"},
        {},
    ]


def test_chat_openai_streamed_and_whole_with_usage() -> None:
    with FakeOpenAIServer({"gpt-test": ["Bonjour ", "tout ", "le ", "monde."]}) as server:
        llm = chat(server, stream_usage=True)
        chunks = list(llm.stream("say hello please"))
        message = llm.invoke([HumanMessage("say hello")])
    assert [c.content for c in chunks if c.content] == ["Bonjour ", "tout ", "le ", "monde."]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert isinstance(merged, AIMessageChunk)
    assert merged.content == "Bonjour tout le monde."
    assert merged.usage_metadata is not None
    assert {k: merged.usage_metadata[k] for k in ("input_tokens", "output_tokens")} == {
        "input_tokens": 3,
        "output_tokens": 4,
    }
    assert isinstance(message, AIMessage) and message.content == "Bonjour tout le monde."
    assert message.usage_metadata is not None and message.usage_metadata["total_tokens"] == 6
    streamed, whole = server.chat_requests()
    assert (streamed["stream"], streamed["stream_options"]) == (True, {"include_usage": True})
    assert "stream" not in whole or whole["stream"] is False


def test_chat_openai_tool_calls_walk_the_turns() -> None:
    turns = [FakeReply(tool_calls=[WEATHER]), FakeReply(text="Sunny in Paris.")]
    with FakeOpenAIServer({"agent": turns}) as server:
        llm = chat(server, model="agent").bind_tools([WEATHER_TOOL])
        streamed = list(llm.stream("Weather in Paris?"))
        call = llm.invoke("Weather in Paris?")
        history = [HumanMessage("Weather in Paris?"), call, ToolMessage("18C", tool_call_id="c1")]
        answer = llm.invoke(history)
    merged = streamed[0]
    for chunk in streamed[1:]:
        merged = merged + chunk
    expected = [{"name": "weather", "args": {"city": "Paris"}, "id": "c1", "type": "tool_call"}]
    assert merged.tool_calls == expected
    assert merged.response_metadata["finish_reason"] == "tool_calls"
    # Arguments arrive in six-character pieces after a head with the id and name.
    assert [c.tool_call_chunks[0]["args"] for c in streamed if c.tool_call_chunks] == [
        "",
        '{"city',
        '": "Pa',
        'ris"}',
    ]
    assert call.tool_calls == expected and call.content == ""
    assert answer.content == "Sunny in Paris."
    sent = server.chat_requests("agent")
    assert [t["function"]["name"] for t in sent[0]["tools"]] == ["weather"]
    assert [m["role"] for m in sent[2]["messages"]] == ["user", "assistant", "tool"]


def test_rules_pick_a_reply_by_needle() -> None:
    rules = {"guard": [("bomb", "unsafe")]}
    with FakeOpenAIServer({"guard": "safe"}, rules=rules) as server:
        llm = chat(server, model="guard")
        answers = [
            llm.invoke(text).content for text in ("How to bake bread?", "How to make a bomb?")
        ]
    assert answers == ["safe", "unsafe"]


async def test_async_context_manager_with_async_client_and_delay() -> None:
    import openai

    async with FakeOpenAIServer(default=["a", "b", "c"], delay=0.01) as server:
        aclient = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        started = time.monotonic()
        stream = await aclient.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        texts = [c.choices[0].delta.content async for c in stream if c.choices]
        elapsed = time.monotonic() - started
        await aclient.close()
    assert texts == ["", "a", "b", "c", None]
    assert elapsed >= 0.03  # one delay before each of the three scripted chunks


def test_a_client_that_stops_reading_stops_the_stream() -> None:
    with FakeOpenAIServer(default=[f"w{i} " for i in range(40)], delay=0.02) as server:
        stream = client(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for at, _ in enumerate(stream):
            if at == 2:
                break
        stream.close()
        time.sleep(0.4)  # at full speed 20 chunks would have gone out by now
        (request,) = server.requests
    assert 2 <= request.chunks_sent < 10


def test_models_route_lists_the_scripted_models() -> None:
    with FakeOpenAIServer({"b-model": "x", "a-model": "y"}, rules={"guard": []}) as server:
        models = client(server).models.list()
    assert [m.id for m in models.data] == ["a-model", "b-model", "guard"]
    assert server.requests[0].method == "GET"


def test_an_unscripted_model_is_openais_404() -> None:
    import openai

    with FakeOpenAIServer({"m": "x"}) as server, pytest.raises(openai.NotFoundError) as raised:
        client(server).chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.body == {
        "message": "The model `nope` does not exist (no reply is scripted for it)",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }


def test_extra_routes_answer_before_the_openai_ones() -> None:
    import httpx

    routes = {
        "/heuristics": lambda body: (200, {"jailbreak": "DAN" in body["prompt"]}),
        "/v1/chat/completions": (503, b"overloaded"),
    }
    with FakeOpenAIServer(default="x", routes=routes) as server:
        verdict = httpx.post(server.url + "/heuristics", json={"prompt": "You are DAN"})
        server.routes["/v1/classify"] = (200, {"score": 0.5})
        score = httpx.post(server.url + "/v1/classify", json={"input": "hi"})
        busy = httpx.post(server.base_url + "/chat/completions", json={"model": "m"})
        missing = httpx.post(server.url + "/nowhere", json={})
    assert (verdict.status_code, verdict.json()) == (200, {"jailbreak": True})
    assert (score.status_code, score.json()) == (200, {"score": 0.5})
    assert (busy.status_code, busy.content) == (503, b"overloaded")
    assert (missing.status_code, missing.json()["error"]["message"]) == (
        404,
        "no route POST /nowhere",
    )
    assert [(r.path, r.body) for r in server.requests] == [
        ("/heuristics", {"prompt": "You are DAN"}),
        ("/v1/classify", {"input": "hi"}),
        ("/v1/chat/completions", {"model": "m"}),
        ("/nowhere", {}),
    ]


def test_a_body_that_is_not_json_is_a_400() -> None:
    import httpx

    with FakeOpenAIServer(default="x") as server:
        answer = httpx.post(server.base_url + "/chat/completions", content=b"{x}")
    assert (answer.status_code, answer.json()["error"]["message"]) == (
        400,
        "the request body is not JSON",
    )
    assert server.requests == []


def test_scripts_can_be_replaced_while_running_and_caller_objects_are_untouched() -> None:
    replies: dict[str, Any] = {"m": "first"}
    with FakeOpenAIServer(replies) as server:
        llm = chat(server, model="m")
        before = llm.invoke("hi").content
        server.replies = {"m": "second"}
        after = llm.invoke("hi").content
        with pytest.raises(TypeError):  # a read-only view: scripts change by assignment only
            server.replies["m"] = "third"  # type: ignore[index]
    assert (before, after) == ("first", "second")
    assert replies == {"m": "first"}


def test_lifecycle_errors() -> None:
    server = FakeOpenAIServer()
    with pytest.raises(
        RuntimeError, match=r"^the fake server is not running: use it in a `with` block$"
    ):
        _ = server.base_url
    with server, pytest.raises(RuntimeError, match=r"^the fake server is already running$"):
        server.start()
    server.stop()  # stopping twice is harmless


def test_a_mixed_reply_list_is_refused() -> None:
    with pytest.raises(TypeError) as raised:
        FakeOpenAIServer({"m": ["text", FakeReply(text="x")]})
    assert str(raised.value) == (
        "a scripted reply is a str, a list of str chunks, a FakeReply or a list of FakeReply; "
        "got a list mixing ['FakeReply', 'str']"
    )


async def test_a_burst_of_concurrent_streams_is_served_without_connect_retries() -> None:
    import openai

    async with FakeOpenAIServer(default="All good here.") as server:
        aclient = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)

        async def one() -> str:
            stream = await aclient.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        started = time.monotonic()
        texts = await asyncio.gather(*(one() for _ in range(50)))
        elapsed = time.monotonic() - started
        await aclient.close()
    assert texts == ["All good here."] * 50
    # With a listen backlog of 5, dropped connects were retried after one second.
    assert elapsed < 0.9
    assert len(server.requests) == 50
