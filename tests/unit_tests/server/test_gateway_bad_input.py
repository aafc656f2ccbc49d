"""Issues 14 and 21: malformed tools, tool messages and formats get a 400 naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from langchain_guardrails.server import create_app
from langchain_guardrails.server.protocol.json_depth import MAX_JSON_DEPTH, json_depth
from langchain_guardrails.server.protocol.openai_messages import parse_messages
from langchain_guardrails.testing import FakeOpenAIServer

from .conftest import live_server

USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "get_weather"}}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "plain", "messages": USER, **fields}


BAD = [
    (body(tools={"a": 1}), "tools must be an array", "tools"),
    (body(tools=["x"]), "tools[0] must be an object", "tools[0]"),
    (
        body(tools=[{"type": "retrieval"}]),
        "tools[0].type: only 'function' tools are supported (got 'retrieval')",
        "tools[0].type",
    ),
    (
        body(tools=[{"type": "function", "function": {"name": "bad name"}}]),
        "tools[0].function.name must be 1-64 letters, digits, '_' or '-' (got 'bad name')",
        "tools[0].function.name",
    ),
    (
        body(tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
        "tools[0].function.parameters must be an object",
        "tools[0].function.parameters",
    ),
    (body(tool_choice="auto"), "tool_choice is only allowed when tools are given", "tool_choice"),
    (
        body(tools=[TOOL], tool_choice="always"),
        "tool_choice must be one of none, auto, required or a function (got 'always')",
        "tool_choice",
    ),
    (
        body(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "other"}}),
        "tool_choice names 'other', which is not one of the tools",
        "tool_choice",
    ),
    (
        body(tools=[TOOL], parallel_tool_calls="yes"),
        "parallel_tool_calls must be a boolean",
        "parallel_tool_calls",
    ),
    (
        body(tools=[TOOL], functions=[{"name": "f"}]),
        "Use either tools or functions, not both",
        "functions",
    ),
    (
        body(function_call="auto"),
        "function_call is only allowed with functions",
        "function_call",
    ),
    (
        body(functions=[{"name": "f"}], function_call={"name": "g"}),
        "function_call names 'g', which is not one of the functions",
        "function_call",
    ),
    (
        body(response_format={"type": "xml"}),
        "response_format.type must be one of text, json_object, json_schema (got 'xml')",
        "response_format.type",
    ),
    (
        body(response_format={"type": "json_schema"}),
        "response_format.json_schema must be an object",
        "response_format.json_schema",
    ),
    (
        body(response_format={"type": "json_schema", "json_schema": {"name": "A", "schema": 1}}),
        "response_format.json_schema.schema must be an object",
        "response_format.json_schema.schema",
    ),
    (
        body(messages=[*USER, {"role": "assistant", "tool_calls": {"id": "c1"}}]),
        "messages[1].tool_calls must be an array",
        "messages[1].tool_calls",
    ),
    (
        body(messages=[*USER, {"role": "assistant", "tool_calls": [{**CALL, "id": ""}]}]),
        "messages[1].tool_calls[0].id must be a non-empty string",
        "messages[1].tool_calls[0].id",
    ),
    (
        body(
            messages=[
                *USER,
                {
                    "role": "assistant",
                    "tool_calls": [{**CALL, "function": {"name": "f", "arguments": {}}}],
                },
            ]
        ),
        "messages[1].tool_calls[0].function.arguments must be a string (JSON)",
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        body(messages=[*USER, {"role": "tool", "tool_call_id": "c1", "content": 5}]),
        "messages[1].content must be a string or an array of text parts",
        "messages[1].content",
    ),
    (
        body(messages=[*USER, {"role": "function", "content": "x"}]),
        "messages[1].name must be a non-empty string",
        "messages[1].name",
    ),
]


@pytest.mark.parametrize(("payload", "message", "param"), BAD)
async def test_bad_gateway_fields_are_a_400(
    app: Any, payload: dict[str, Any], message: str, param: str
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        response = await http.post("/v1/chat/completions", content=json.dumps(payload),
                                   headers={"content-type": "application/json"})  # fmt: skip
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": "invalid_value",
            }
        },
    )


def test_broken_tool_call_arguments_stay_in_the_history() -> None:
    """A model's broken arguments are part of the conversation: kept, not a 400."""
    bad = {**CALL, "function": {"name": "f", "arguments": "{not json"}}
    (_, message) = parse_messages([*USER, {"role": "assistant", "tool_calls": [bad]}])
    assert message.tool_calls == []  # type: ignore[attr-defined]
    assert message.invalid_tool_calls == [  # type: ignore[attr-defined]
        {"name": "f", "args": "{not json", "id": "c1", "error": None, "type": "invalid_tool_call"}
    ]


def test_legacy_function_messages_answer_their_call() -> None:
    messages = parse_messages(
        [
            *USER,
            {"role": "assistant", "function_call": {"name": "f", "arguments": '{"a": 1}'}},
            {"role": "function", "name": "f", "content": "done"},
        ]
    )
    assert messages[1].tool_calls == [  # type: ignore[attr-defined]
        {"name": "f", "args": {"a": 1}, "id": "call_1", "type": "tool_call"}
    ]
    assert (messages[2].tool_call_id, messages[2].content) == ("call_1", "done")  # type: ignore[attr-defined]


# -- issue 21 item 9: non-string tool names and deep JSON on both paths ----------------------


def nested(levels: int) -> dict[str, Any]:
    """A JSON schema (arrays of arrays) ``levels`` levels deep, the outermost object level 1."""
    value: dict[str, Any] = {"type": "string"}
    for _ in range(levels - 1):
        value = {"type": "array", "items": value}
    return value


def deep_list(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


TOOL_CALL_TURN = {"role": "assistant", "tool_calls": [CALL]}
CHECKS = {"role": "tool", "tool_call_id": "c1", "name": 5, "content": "x"}
DEEP = [
    # (fields, message, param): 65 is one level over the limit; 600 levels made copy.deepcopy
    # raise RecursionError on both paths, and orjson stopped the fast path at 255.
    *[
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": nested(n)}}]},
            "tools[0].function.parameters is nested too deeply (more than 64 levels)",
            "tools[0].function.parameters",
        )
        for n in (65, 600)
    ],
    *[
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "A", "schema": nested(n)},
                }
            },
            "response_format.json_schema.schema is nested too deeply (more than 64 levels)",
            "response_format.json_schema.schema",
        )
        for n in (65, 600)
    ],
    (
        {"functions": [{"name": "f", "parameters": nested(65)}]},
        "functions[0].parameters is nested too deeply (more than 64 levels)",
        "functions[0].parameters",
    ),
    (
        {"tools": [{"type": "function", "function": {"name": "f"}, "extra": deep_list(65)}]},
        "tools[0].extra is nested too deeply (more than 64 levels)",
        "tools[0].extra",
    ),
    (
        {
            "messages": [
                *USER,
                {
                    **TOOL_CALL_TURN,
                    "tool_calls": [
                        {**CALL, "function": {"name": "f", "arguments": json.dumps(deep_list(65))}}
                    ],
                },
            ]
        },
        "messages[1].tool_calls[0].function.arguments is nested too deeply (more than 64 levels)",
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        # Deeper than json.loads can decode (RecursionError) but a short string.
        {
            "messages": [
                *USER,
                {
                    **TOOL_CALL_TURN,
                    "tool_calls": [
                        {**CALL, "function": {"name": "f", "arguments": "[" * 5000 + "]" * 5000}}
                    ],
                },
            ]
        },
        "messages[1].tool_calls[0].function.arguments is nested too deeply (more than 64 levels)",
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        {"messages": [*USER, TOOL_CALL_TURN, CHECKS]},
        "messages[2].name must be a string",
        "messages[2].name",
    ),
]


@pytest.fixture(scope="module", params=["fast", "langchain"])
def upstream_gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A live server whose config ``plain`` calls a fake OpenAI upstream, on either path."""
    root = tmp_path_factory.mktemp(f"nesting-{request.param}")
    with FakeOpenAIServer(default="Hello there.") as upstream:
        (root / "plain").mkdir()
        (root / "plain" / "config.yml").write_text(
            "models:\n  - type: main\n    engine: openai\n    model: m\n    parameters: "
            f"{{base_url: '{upstream.base_url}', api_key: unused, max_retries: 0}}\n"
        )
        with live_server(create_app(root, fast_path=request.param == "fast")) as url:
            yield url


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("fields", "message", "param"), DEEP)
def test_deep_json_and_tool_names_are_a_400_on_both_paths(
    upstream_gateway: str, stream: bool, fields: dict[str, Any], message: str, param: str
) -> None:
    response = httpx.post(
        f"{upstream_gateway}/v1/chat/completions",
        json={**body(stream=stream), **fields},
        timeout=30,
    )
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": "invalid_value",
            }
        },
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": nested(64)}}]},
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "A", "schema": nested(64)},
            }
        },
    ],
    ids=["parameters", "json_schema"],
)
def test_json_at_the_depth_limit_is_served(upstream_gateway: str, fields: dict[str, Any]) -> None:
    response = httpx.post(
        f"{upstream_gateway}/v1/chat/completions", json={**body(), **fields}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello there."


def test_tool_message_name_in_guardrail_checks_is_a_400(upstream_gateway: str) -> None:
    response = httpx.post(
        f"{upstream_gateway}/v1/guardrail/checks",
        json={"model": "plain", "messages": [*USER, TOOL_CALL_TURN, CHECKS]},
        timeout=30,
    )
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": {
                "message": "messages[2].name must be a string",
                "type": "invalid_request_error",
                "param": "messages[2].name",
                "code": "invalid_value",
            }
        },
    )


def test_json_depth_counts_without_recursion() -> None:
    assert (json_depth({}), json_depth(1), json_depth({"a": {"b": []}})) == (1, 0, 3)
    # Far deeper than Python's recursion limit; counting stops one past the limit.
    assert json_depth(deep_list(100_000)) == MAX_JSON_DEPTH + 1
    assert json_depth(deep_list(100_000), limit=10**6) == 100_000
