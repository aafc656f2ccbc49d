"""Issue 14: malformed tools, tool messages and formats get a 400 naming the field."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from langchain_guardrails.server.openai_messages import parse_messages

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
