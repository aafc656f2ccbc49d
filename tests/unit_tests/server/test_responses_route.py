"""Issue 23 item 1: ``POST /v1/responses`` (OpenAI's Responses API) in front of the same rails.

The gateway runs as a process of its own (``langchain-guardrails server``) on 127.0.0.1 with
the fast path; its upstream is ``FakeOpenAIServer``. Every
streamed event is validated by the ``openai`` SDK's own ``ResponseStreamEvent`` model; clients
are the real ``openai`` SDK, ``ChatOpenAI(use_responses_api=True)`` and the Agents SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from openai import OpenAI
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from langchain_guardrails.server import create_app
from langchain_guardrails.testing import FakeOpenAIServer, FakeReply

from .conftest import live_server
from .server_process import served

REFUSAL = "I'm sorry, I can't respond to that."
WEATHER_CALL = {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_w1"}
SCRIPTS: dict[str, list[FakeReply]] = {
    "plain": [FakeReply(text="The capital of France is Paris.")],
    "agent": [
        FakeReply(reasoning="Looking up.", text="Let me check. ", tool_calls=[WEATHER_CALL]),
        FakeReply(text="It is sunny in Paris."),
    ],
    "danger": [
        FakeReply(
            text="Running it. ",
            tool_calls=[{"name": "shell", "args": {"cmd": "rm -rf /"}, "id": "call_x"}],
        )
    ],
    "blocked": [FakeReply(text="Welcome to Atlantis, the lost city of gold.")],
}
RAILS = """\
rails:
  output:
    flows: [regex check output]
    streaming: {enabled: true, chunk_size: 4, context_size: 1, stream_first: false}
  tool_output: {flows: [regex check output]}
  tool_input: {flows: [mask emails]}
  config:
    regex_detection:
      output: {patterns: ["rm -rf", "Atlantis"]}
"""
ACTIONS = """\
import re

from langchain_guardrails.config.actions import RailResult, action


@action(name="mask emails", rewrites=True)
def mask_emails(text: str) -> RailResult:
    return RailResult(allowed=True, text=re.sub(r"\\S+@\\S+", "<EMAIL>", text))
"""
TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


@dataclass
class Gateway:
    url: str
    upstream: FakeOpenAIServer


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("responses")
    with ExitStack() as stack:
        upstream = stack.enter_context(FakeOpenAIServer(SCRIPTS))
        for name in SCRIPTS:
            folder = root / name
            folder.mkdir()
            model = (
                f"  - type: main\n    engine: openai\n    model: {name}\n"
                f"    parameters: {{base_url: '{upstream.base_url}', api_key: unused, "
                "max_retries: 0}\n"
            )
            (folder / "config.yml").write_text("models:\n" + model + RAILS)
            (folder / "actions.py").write_text(ACTIONS)
        # A real server process, as the issue asks: clients talk to it over a socket.
        url = stack.enter_context(served(root))
        yield Gateway(url, upstream)


def stream(gateway: Gateway, **body: Any) -> tuple[bytes, list[dict[str, Any]]]:
    """The raw body and decoded events of a streamed response; each event validated by the
    SDK's model, its ``event:`` line equal to its type, numbered 0, 1, ... in order."""
    response = httpx.post(f"{gateway.url}/v1/responses", json={"stream": True, **body}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.split("\n\n")[:-1]:
        head, data = block.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert head == f"event: {event['type']}"
        EVENTS.validate_python(event, strict=False)
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return response.content, events


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def client(gateway: Gateway) -> OpenAI:
    return OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


START = ["response.created", "response.in_progress"]
TEXT_ITEM = ["response.output_item.added", "response.content_part.added"]
TEXT_DONE = ["response.output_text.done", "response.content_part.done", "response.output_item.done"]


def test_streamed_text_events(gateway: Gateway) -> None:
    _, events = stream(gateway, model="plain", input="What is the capital of France?")
    deltas = ["The ", "capital ", "of ", "France ", "is ", "Paris."]
    assert kinds(events) == [
        *START, *TEXT_ITEM, *["response.output_text.delta"] * 6, *TEXT_DONE,
        "response.completed",
    ]  # fmt: skip
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == deltas
    item = events[-2]["item"]
    assert (item["type"], item["role"], item["status"]) == ("message", "assistant", "completed")
    assert item["content"] == [
        {"type": "output_text", "text": "".join(deltas), "annotations": [], "logprobs": []}
    ]
    final = events[-1]["response"]
    assert (final["status"], final["model"], final["output"]) == ("completed", "plain", [item])
    assert final["usage"] == {
        "input_tokens": 6,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 6,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 12,
    }
    assert final["guardrails"] == {"blocked": False, "windows": 2}
    assert events[0]["response"]["status"] == "in_progress"


def test_sdk_stream_function_call(gateway: Gateway) -> None:
    with client(gateway) as sdk:
        events = list(
            sdk.responses.create(model="agent", input="Weather in Paris?", tools=TOOLS, stream=True)
        )
    assert [e.type for e in events] == [
        *START,
        "response.output_item.added", "response.content_part.added",
        "response.reasoning_text.delta", "response.reasoning_text.delta",
        "response.reasoning_text.done", "response.content_part.done",
        "response.output_item.done",
        *TEXT_ITEM, *["response.output_text.delta"] * 3, *TEXT_DONE,
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]  # fmt: skip
    final = events[-1].response  # type: ignore[union-attr]
    call = final.output[2]
    assert (call.type, call.call_id, call.name, call.arguments) == (  # type: ignore[union-attr]
        "function_call", "call_w1", "get_weather", '{"city": "Paris"}'
    )  # fmt: skip
    assert final.output_text == "Let me check. "
    assert final.output[0].type == "reasoning"
    assert gateway.upstream.chat_requests("agent")[-1]["tools"] == [
        {"type": "function", "function": {k: v for k, v in TOOLS[0].items() if k != "type"}}
    ]


def test_function_call_output_round_trip(gateway: Gateway) -> None:
    with client(gateway) as sdk:
        answer = sdk.responses.create(
            model="agent",
            instructions="Be brief.",
            input=[
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "type": "function_call",
                    "call_id": "call_w1",
                    "name": "get_weather",
                    "arguments": '{"city": "Paris"}',
                },
                {
                    "type": "function_call_output",
                    "call_id": "call_w1",
                    "output": "Sunny. Report to ops@example.com",
                },
            ],
            tools=TOOLS,
            store=False,
            include=[],
        )
    assert (answer.status, answer.output_text) == ("completed", "It is sunny in Paris.")
    assert gateway.upstream.chat_requests("agent")[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{
            "id": "call_w1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        # rails.tool_input masked the result before the model saw it
        {"role": "tool", "content": "Sunny. Report to <EMAIL>", "tool_call_id": "call_w1",
         "name": "get_weather"},
    ]  # fmt: skip


def test_blocked_answer_leaks_nothing(gateway: Gateway) -> None:
    raw, events = stream(gateway, model="blocked", input="Tell me a story")
    # Hold-back: the answer never left the server; the refusal is its own content part.
    assert kinds(events) == [
        *START,
        "response.output_item.added", "response.content_part.added",
        "response.refusal.delta", "response.refusal.done", "response.content_part.done",
        "response.output_item.done", "response.incomplete",
    ]  # fmt: skip
    assert events[4]["delta"] == REFUSAL
    final = events[-1]["response"]
    assert (final["status"], final["incomplete_details"]) == (
        "incomplete",
        {"reason": "content_filter"},
    )
    assert final["output"] == [events[-2]["item"]]
    assert events[-2]["item"]["status"] == "incomplete"
    assert events[-2]["item"]["content"] == [{"type": "refusal", "refusal": REFUSAL}]
    assert final["guardrails"] == {
        "blocked": True, "stage": "output", "rail": "regex check output",
        "reason": "matched pattern 'Atlantis'", "type": "guardrails_violation", "window": 0,
    }  # fmt: skip
    for fragment in (b"Welcome", b"lost", b"city", b"gold", b"output_text"):
        assert fragment not in raw


def test_blocked_tool_call_never_sent(gateway: Gateway) -> None:
    raw, events = stream(gateway, model="danger", input="Clean up", tools=TOOLS)
    assert "response.function_call_arguments.delta" not in kinds(events)
    for fragment in (b"shell", b"cmd", b"call_x", b"Running", b"function_call"):
        assert fragment not in raw
    final = events[-1]["response"]
    assert (final["status"], final["guardrails"]["stage"]) == ("incomplete", "tool_output")
    with client(gateway) as sdk:
        whole = sdk.responses.create(model="danger", input="Clean up", tools=TOOLS)  # type: ignore[arg-type]
    assert whole.status == "incomplete"
    assert whole.incomplete_details is not None
    assert whole.incomplete_details.reason == "content_filter"
    assert [part.model_dump() for part in whole.output[0].content] == [  # type: ignore[union-attr]
        {"type": "refusal", "refusal": REFUSAL}
    ]


def test_whole_response_matches_the_stream(gateway: Gateway) -> None:
    with client(gateway) as sdk:
        answer = sdk.responses.create(model="agent", input="Weather in Paris?", tools=TOOLS)
    assert answer.object == "response" and answer.status == "completed"
    assert [item.type for item in answer.output] == ["reasoning", "message", "function_call"]
    assert answer.output_text == "Let me check. "
    assert answer.usage is not None and answer.usage.output_tokens == 4
    assert (answer.model_extra or {})["guardrails"] == {"blocked": False, "windows": 2}


def _error(param: str | None, message: str, code: str = "invalid_value") -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param,
                      "code": code}}  # fmt: skip


STATE = "the guardrails server stores no responses"
BAD_BODIES = [
    ({"input": "Hi", "previous_response_id": "resp_1"}, _error(
        "previous_response_id", f"previous_response_id is not supported: {STATE}; send the "
        "whole conversation in input", "unsupported_parameter")),
    ({"input": "Hi", "store": True}, _error(
        "store", f"store: true is not supported: {STATE}; send store: false",
        "unsupported_value")),
    ({"input": "Hi", "include": ["file_search_call.results"]}, _error(
        "include", "include: the guardrails server cannot produce ['file_search_call.results']",
        "unsupported_value")),
    ({}, _error("input", "'input' is a required property", "missing_required")),
    ({"input": [{"role": "robot", "content": "Hi"}]}, _error(
        "input[0].role", "input[0].role: 'robot' is not one of system, developer, user, "
        "assistant")),
    ({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}, _error(
        "input[0].content[0].type", "input[0].content[0]: only text content parts are "
        "supported (input_text, output_text, text)")),
    ({"input": [{"type": "function_call_output", "output": "x"}]}, _error(
        "input[0].call_id", "input[0].call_id must be a non-empty string")),
    ({"input": "Hi", "tools": [{"type": "web_search"}]}, _error(
        "tools[0].type", "tools[0].type: only 'function' tools are supported (got "
        "'web_search')", "unsupported_value")),
    ({"input": "Hi", "tools": [{"type": "function", "name": "no spaces"}]}, _error(
        "tools[0].name", "tools[0].name must be 1-64 letters, digits, '_' or '-' (got "
        "'no spaces')")),
    ({"input": "Hi", "text": {"format": {"type": "yaml"}}}, _error(
        "text.format.type", "text.format.type must be one of text, json_object, json_schema "
        "(got 'yaml')")),
    ({"input": "Hi", "temperature": 3}, _error(
        "temperature", "temperature must be between 0 and 2 (got 3)")),
    ({"input": "Hi", "max_output_tokens": "many"}, _error(
        "max_output_tokens", "max_output_tokens must be an integer")),
]  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), BAD_BODIES)
def test_bad_bodies_name_the_field(
    gateway: Gateway, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = httpx.post(f"{gateway.url}/v1/responses", json={"model": "plain", **body})
    assert (response.status_code, response.json()) == (400, expected)


# -- LangChain and the Agents SDK as clients ----------------------------------------------------


def _chat_openai(gateway: Gateway, model: str) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model,
        base_url=f"{gateway.url}/v1",
        api_key="unused",  # type: ignore[arg-type]
        max_retries=0,
        use_responses_api=True,
    )


def test_chat_openai_responses_invoke_and_stream(gateway: Gateway) -> None:
    llm = _chat_openai(gateway, "plain")
    answer = llm.invoke("What is the capital of France?")
    assert answer.text == "The capital of France is Paris."
    assert answer.usage_metadata is not None
    assert (answer.usage_metadata["input_tokens"], answer.usage_metadata["output_tokens"]) == (6, 6)
    chunks = list(llm.stream("What is the capital of France?"))
    assert [c.text for c in chunks if c.text] == [
        "The ", "capital ", "of ", "France ", "is ", "Paris."
    ]  # fmt: skip
    blocked = _chat_openai(gateway, "blocked").invoke("Tell me a story")
    assert blocked.content[0]["type"] == "refusal" and blocked.content[0]["refusal"] == REFUSAL


def test_chat_openai_output_version_responses(gateway: Gateway) -> None:
    """``output_version="responses/v1"`` alone also makes ChatOpenAI speak the Responses API."""
    from langchain_openai import ChatOpenAI

    before = len(gateway.upstream.chat_requests("plain"))
    llm = ChatOpenAI(
        model="plain",
        base_url=f"{gateway.url}/v1",
        api_key="unused",  # type: ignore[arg-type]
        max_retries=0,
        output_version="responses/v1",
    )
    answer = llm.invoke("What is the capital of France?")
    assert answer.content == [
        {
            "type": "text",
            "text": "The capital of France is Paris.",
            "annotations": [],
            "id": answer.content[0]["id"],  # type: ignore[index]
        }
    ]
    assert answer.response_metadata["status"] == "completed"
    assert len(gateway.upstream.chat_requests("plain")) == before + 1


def test_chat_openai_responses_tool_call(gateway: Gateway) -> None:
    llm = _chat_openai(gateway, "agent").bind_tools(TOOLS)
    answer = llm.invoke("Weather in Paris?")
    assert [(c["name"], c["args"], c["id"]) for c in answer.tool_calls] == [
        ("get_weather", {"city": "Paris"}, "call_w1")
    ]
    assert answer.text == "Let me check. "


async def test_agents_sdk_run_streamed(gateway: Gateway) -> None:
    from agents import Agent, OpenAIResponsesModel, RunConfig, Runner, function_tool
    from openai import AsyncOpenAI

    asked: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Weather of a city."""
        asked.append(city)
        return "Sunny"

    sdk = AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
    agent = Agent(
        name="weather",
        instructions="Answer about the weather.",
        model=OpenAIResponsesModel(model="agent", openai_client=sdk),
        tools=[get_weather],
    )
    # No tracing: its exporter would call api.openai.com.
    run = Runner.run_streamed(
        agent, "Weather in Paris?", run_config=RunConfig(tracing_disabled=True)
    )
    text = []
    async for event in run.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            text.append(event.data.delta)
    assert asked == ["Paris"]
    assert run.final_output == "It is sunny in Paris."
    assert "".join(text) == "Let me check. It is sunny in Paris."
    sent = gateway.upstream.chat_requests("agent")[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Answer about the weather."}
    assert sent[-1] == {"role": "tool", "content": "Sunny", "tool_call_id": "call_w1",
                        "name": "get_weather"}  # fmt: skip
    await sdk.close()


def test_refusal_after_released_text_is_a_second_part() -> None:
    """stream_first: text already sent stays; the refusal follows as a ``refusal`` part."""
    from langchain_guardrails.server.protocol.completions import TurnEnd
    from langchain_guardrails.server.protocol.responses_events import ResponseWriter

    writer = ResponseWriter("eager", {"tools": [], "tool_choice": "auto",
                                      "parallel_tool_calls": True})  # fmt: skip
    guard = {"blocked": True, "stage": "output", "rail": "regex check output"}
    events = [
        *writer.start(),
        *writer.deltas({"content": "Hello "}),
        *writer.deltas({"content": "\n\n"}),
        *writer.end(TurnEnd("content_filter", None, guard, REFUSAL)),
    ]
    for event in events:
        EVENTS.validate_python(event)
    assert kinds(events)[2:] == [
        *TEXT_ITEM, "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done",
        "response.content_part.added", "response.refusal.delta", "response.refusal.done",
        "response.content_part.done", "response.output_item.done", "response.incomplete",
    ]  # fmt: skip
    assert events[-2]["item"]["content"] == [
        {"type": "output_text", "text": "Hello \n\n", "annotations": [], "logprobs": []},
        {"type": "refusal", "refusal": REFUSAL},
    ]
    assert [e.get("content_index") for e in events[8:12]] == [1, 1, 1, 1]
    final = events[-1]["response"]
    assert (final["status"], final["incomplete_details"], final["guardrails"]) == (
        "incomplete", {"reason": "content_filter"}, guard,
    )  # fmt: skip
    assert final["usage"]["total_tokens"] == 0


def test_input_items_as_messages() -> None:
    """History as the SDKs send it back: typed messages with output parts (a refusal too),
    parallel calls as one assistant message, reasoning items skipped."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

    from langchain_guardrails.server.protocol.responses_request import parse_input

    messages = parse_input([
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Hi"}]},
        {"type": "message", "role": "user", "content": "Tell me"},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
         "content": [{"type": "refusal", "refusal": REFUSAL}]},
        {"role": "user", "content": "Weather?"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "c1", "name": "a", "arguments": '{"x": 1}'},
        {"type": "function_call", "call_id": "c2", "name": "b", "arguments": "not json"},
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_text", "text": "one"}]},
    ])  # fmt: skip
    assert [type(m) for m in messages] == [
        SystemMessage, HumanMessage, AIMessage, HumanMessage, AIMessage, ToolMessage
    ]  # fmt: skip
    assert messages[2].content == REFUSAL
    calls = messages[4]
    assert isinstance(calls, AIMessage)
    assert [(c["id"], c["name"], c["args"]) for c in calls.tool_calls] == [("c1", "a", {"x": 1})]
    assert [(c["id"], c["args"]) for c in calls.invalid_tool_calls] == [("c2", "not json")]
    tool = messages[5]
    assert isinstance(tool, ToolMessage)
    assert (tool.content, tool.tool_call_id, tool.name) == ("one", "c1", "a")


def test_request_deadline_ends_the_stream_with_an_error_event(tmp_path: Any) -> None:
    slow = {"slow": [FakeReply(text="one two three four five six", delay=0.2)]}
    with FakeOpenAIServer(slow) as upstream:
        folder = tmp_path / "slow"
        folder.mkdir()
        (folder / "config.yml").write_text(
            "models:\n  - type: main\n    engine: openai\n    model: slow\n"
            f"    parameters: {{base_url: '{upstream.base_url}', api_key: unused, "
            "max_retries: 0}\n"
        )
        app = create_app(tmp_path, fast_path=True, request_timeout=0.5)
        with live_server(app) as url:
            response = httpx.post(
                f"{url}/v1/responses", json={"model": "slow", "input": "Hi", "stream": True}
            )
            whole = httpx.post(f"{url}/v1/responses", json={"model": "slow", "input": "Hi"})
    blocks = response.text.split("\n\n")[:-1]
    message = "The generation did not finish within the request timeout of 0.5 s"
    # The error takes the next sequence number: the numbering stays 0, 1, ... to the end.
    assert blocks[-1] == "event: error\ndata: " + json.dumps(
        {"type": "error", "sequence_number": len(blocks) - 1, "code": "request_timeout",
         "message": message, "param": None}, separators=(",", ":"),
    )  # fmt: skip
    numbers = [json.loads(b.split("data: ", 1)[1])["sequence_number"] for b in blocks]
    assert numbers == list(range(len(blocks))) and len(blocks) > 3
    assert "response.completed" not in response.text
    assert (whole.status_code, whole.json()["error"]["code"]) == (504, "request_timeout")
