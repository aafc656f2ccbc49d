"""Issue 20 items 1, 2, 10 and 11 at the gateway: one assembler of tool-call deltas on the fast
path and the LangChain (``ChatOpenAI``) path, streamed and whole, and on a LangServe route.

The fake upstream (``FakeOpenAIServer``) sends the deltas as given: JSON-escaped arguments,
deltas without ``index``, a name split over deltas, a second id on one index, and malformed
chunks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from langchain_guardrails.server import create_app
from langchain_guardrails.testing import FakeOpenAIServer, FakeReply

from .conftest import live_server, sse_json

REFUSAL = "I'm sorry, I can't respond to that."
ESCAPED = r'{"v": "\u0068unter2", "p": "p\u00e4ssw\u00f6rd", "m": "secret\u0040example.com"}'
SINGLE = {
    "hunter2": r'{"v": "\u0068unter2"}',
    "password": r'{"p": "p\u00e4ssw\u00f6rd"}',
    "email": r'{"m": "secret\u0040example.com"}',
}


def head(index: Any, call_id: str, name: str, args: Any = "") -> dict[str, Any]:
    call = {"index": index, "id": call_id, "type": "function",
            "function": {"name": name, "arguments": args}}  # fmt: skip
    return {"tool_calls": [call]}


def args(text: str, index: int | None = 0) -> dict[str, Any]:
    call: dict[str, Any] = {"function": {"arguments": text}}
    if index is not None:
        call["index"] = index
    return {"tool_calls": [call]}


def call(name: str, raw: str, call_id: str = "c1") -> FakeReply:
    return FakeReply(tool_calls=[{"name": name, "args": raw, "id": call_id}])


SCRIPTS: dict[str, FakeReply] = {
    "escaped": call("send", ESCAPED),
    **{f"escaped_{key}": call("send", raw) for key, raw in SINGLE.items()},
    "decoded": call("weather", r'{"city": "Z\u00fcrich"}'),
    "indexless": FakeReply(
        deltas=[
            {
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "send", "arguments": '{"v": "password'},
                    }
                ]
            },
            args(" is hun", None),
            args('ter2"}', None),
        ]
    ),
    "split_name": FakeReply(
        deltas=[
            head(0, "c1", "get_pa"),
            {"tool_calls": [{"index": 0, "function": {"name": "ssword"}}]},
            args('{"user": "ann"}'),
        ]
    ),
    "second_id": FakeReply(
        deltas=[head(0, "c1", "first", '{"a": 1}'), head(0, "c2", "second", '{"b": 2}')]
    ),
    "parallel": FakeReply(
        tool_calls=[
            {"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"},
            {"name": "get_weather", "args": {"city": "Rome"}, "id": "c2"},
        ]
    ),
    "bad_args_object": FakeReply(deltas=[head(0, "c1", "f", {"a": "secret"})]),
    "bad_index_string": FakeReply(deltas=[head("x", "c1", "f", "{}")]),
    "bad_tool_calls_object": FakeReply(
        deltas=[{"tool_calls": {"index": 0, "id": "c1", "function": {"name": "f"}}}]
    ),
    "bad_function_null": FakeReply(
        deltas=[{"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": None}]}]
    ),
    "bad_content_object": FakeReply(deltas=[{"content": {"text": "secret words"}}]),
}
MALFORMED = [name for name in SCRIPTS if name.startswith("bad_")]
RAILS = """\
rails:
  tool_output: {flows: [regex check output, detect sensitive data on output]}
  config:
    regex_detection:
      output: {patterns: [hunter2, pässwörd, password is]}
    sensitive_data_detection:
      output: {entities: [EMAIL_ADDRESS]}
"""


@dataclass
class Gateway:
    url: str
    backend: str
    upstream: FakeOpenAIServer


@pytest.fixture(scope="module", params=["chatopenai", "fast"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    backend: str = request.param
    root = tmp_path_factory.mktemp(f"assembly-{backend}")
    with ExitStack() as stack:
        upstream = stack.enter_context(FakeOpenAIServer(SCRIPTS))
        for name in SCRIPTS:
            folder = root / name
            folder.mkdir()
            (folder / "config.yml").write_text(
                f"models:\n  - type: main\n    engine: openai\n    model: {name}\n"
                f"    parameters: {{base_url: '{upstream.base_url}', api_key: unused, "
                "max_retries: 0}\n" + RAILS
            )
        app = create_app(root, fast_path=backend == "fast", langserve=True)
        yield Gateway(stack.enter_context(live_server(app)), backend, upstream)


ASK = [{"role": "user", "content": "go"}]


def streamed(gateway: Gateway, model: str, **body: Any) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": model, "messages": ASK, "stream": True, **body},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return sse_json(response.text)


def whole(gateway: Gateway, model: str, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": model, "messages": ASK, **body},
        timeout=30,
    )


def deltas(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["choices"][0]["delta"] for e in events if e.get("choices")]


# -- items 1 and 2: what the client decodes is what was checked ------------------------------


@pytest.mark.parametrize(
    "model", ["escaped", "escaped_hunter2", "escaped_password", "escaped_email", "indexless"]
)
def test_encoded_or_indexless_calls_are_blocked(gateway: Gateway, model: str) -> None:
    events = streamed(gateway, model)
    assert deltas(events)[1:] == [{"content": REFUSAL, "refusal": REFUSAL}, {}]
    assert events[-1]["choices"][0]["finish_reason"] == "content_filter"
    rail = "detect sensitive data on output" if model == "escaped_email" else "regex check output"
    assert (events[-1]["guardrails"]["stage"], events[-1]["guardrails"]["rail"]) == (
        "tool_output",
        rail,
    )
    body = whole(gateway, model).json()
    message = body["choices"][0]["message"]
    assert (message["content"], message.get("tool_calls")) == (REFUSAL, None)


def test_passed_arguments_are_released_decoded(gateway: Gateway) -> None:
    events = streamed(gateway, "decoded")
    calls = [d["tool_calls"][0] for d in deltas(events) if "tool_calls" in d]
    assert calls == [
        {"index": 0, "id": "c1", "type": "function",
         "function": {"name": "weather", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"city": "Zürich"}'}},
    ]  # fmt: skip
    message = whole(gateway, "decoded").json()["choices"][0]["message"]
    assert message["tool_calls"] == [
        {"id": "c1", "type": "function",
         "function": {"name": "weather", "arguments": '{"city": "Zürich"}'}}
    ]  # fmt: skip


# -- item 10: merging ------------------------------------------------------------------------


def test_a_split_name_is_released_whole(gateway: Gateway) -> None:
    events = streamed(gateway, "split_name")
    assert [d["tool_calls"][0] for d in deltas(events) if "tool_calls" in d] == [
        {"index": 0, "id": "c1", "type": "function",
         "function": {"name": "get_password", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"user": "ann"}'}},
    ]  # fmt: skip
    message = whole(gateway, "split_name").json()["choices"][0]["message"]
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["get_password"]


def test_a_second_id_on_one_index_is_a_second_call(gateway: Gateway) -> None:
    message = whole(gateway, "second_id").json()["choices"][0]["message"]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in message["tool_calls"]] == [
        ("c1", "first", '{"a": 1}'),
        ("c2", "second", '{"b": 2}'),
    ]  # fmt: skip
    events = streamed(gateway, "second_id")
    heads = [d["tool_calls"][0] for d in deltas(events) if "tool_calls" in d]
    assert [(h["index"], h.get("id")) for h in heads] == [(0, "c1"), (0, None), (1, "c2"),
                                                           (1, None)]  # fmt: skip


FUNCTIONS = [{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}]


def test_parallel_calls_for_legacy_functions_are_never_concatenated(gateway: Gateway) -> None:
    events = streamed(gateway, "parallel", functions=FUNCTIONS)
    assert [d["function_call"] for d in deltas(events) if "function_call" in d] == [
        {"name": "get_weather", "arguments": ""},
        {"arguments": '{"city": "Paris"}'},
    ]
    assert events[-1]["choices"][0]["finish_reason"] == "function_call"
    message = whole(gateway, "parallel", functions=FUNCTIONS).json()["choices"][0]["message"]
    assert message["function_call"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}


# -- item 11: malformed upstream chunks ------------------------------------------------------


@pytest.mark.parametrize("model", MALFORMED)
def test_a_malformed_upstream_chunk_is_a_502(gateway: Gateway, model: str) -> None:
    response = whole(gateway, model)
    assert response.status_code == 502
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "upstream_error",
        "upstream_failed",
        None,
    )
    assert error["message"] == (
        f"The upstream model failed ({FAST_REASONS[model]}); see the server log"
        if gateway.backend == "fast"
        else f"The upstream model failed ({LANGCHAIN_REASONS[model]}); see the server log"
    )
    assert "secret" not in response.text
    events = streamed(gateway, model)
    assert events[-1] == {"error": error}
    assert not any("tool_calls" in d for d in deltas(events))


FAST_REASONS = {
    "bad_args_object": "upstream sent a malformed chunk: "
    "tool_calls[0].function.arguments is of type dict, not a string",
    "bad_index_string": "upstream sent a malformed chunk: tool_calls[0].index is of type str",
    "bad_tool_calls_object": "upstream sent a malformed chunk: "
    "tool_calls is of type dict, not a list",
    "bad_function_null": "upstream sent a malformed chunk: "
    "tool_calls[0].function is of type null, not an object",
    "bad_content_object": "upstream sent a malformed chunk: content is dict",
}
LANGCHAIN_REASONS = {
    "bad_args_object": "ValidationError",
    "bad_index_string": "ValidationError",
    "bad_tool_calls_object": "TypeError",
    "bad_function_null": "AttributeError",
    "bad_content_object": "ValidationError",
}


# -- LangServe --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["escaped", "indexless"])
def test_langserve_routes_block_encoded_calls(gateway: Gateway, model: str) -> None:
    response = httpx.post(f"{gateway.url}/configs/{model}/stream", json={"input": "go"}, timeout=30)
    assert response.status_code == 200
    data = [json.loads(line[6:]) for line in response.text.splitlines()
            if line.startswith("data: ") and line[6:].startswith("{")]  # fmt: skip
    assert [c["content"] for c in data if c.get("content")] == [REFUSAL]
    assert not any(c.get("tool_call_chunks") for c in data)
    assert "ter2" not in response.text.replace("'hunter2'", "") and "secret" not in response.text


def test_langserve_invoke_releases_decoded_arguments(gateway: Gateway) -> None:
    response = httpx.post(f"{gateway.url}/configs/decoded/invoke", json={"input": "go"}, timeout=30)
    output = response.json()["output"]
    assert output["tool_calls"] == [
        {"name": "weather", "args": {"city": "Zürich"}, "id": "c1", "type": "tool_call"}
    ]


def test_without_tool_rails_a_split_name_is_still_written_whole() -> None:
    # No rails.tool_output: deltas stream through, and the writer joins them with the same
    # assembler (before: the head went out as "get_pa" and "ssword" was lost).
    from langchain_core.messages import AIMessageChunk

    from langchain_guardrails.server.protocol.deltas import DeltaWriter

    def chunk(**delta: Any) -> AIMessageChunk:
        full = {"name": None, "args": None, "id": None, "index": 0, **delta}
        return AIMessageChunk(content="", tool_call_chunks=[full])

    writer = DeltaWriter()
    out = [
        *writer.deltas(chunk(name="get_pa", id="c1", args="")),
        *writer.deltas(chunk(name="ssword")),
        *writer.deltas(chunk(args='{"user": ')),
        *writer.deltas(chunk(args='"ann"}')),
        *writer.deltas(chunk(name="noop", id="c2", index=1, args="")),
        *writer.finish(),
    ]
    assert out == [
        head(0, "c1", "get_password"),
        args('{"user": '),
        args('"ann"}'),
        {"tool_calls": [{"index": 1, "id": "c2", "type": "function",
                         "function": {"name": "noop", "arguments": ""}}]},
    ]  # fmt: skip
