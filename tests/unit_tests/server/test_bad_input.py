"""Issue 13 items 6 and 7: bad input gets a 400 naming the field, never a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from langchain_guardrails.llm import register_engine
from langchain_guardrails.server import create_app
from langchain_guardrails.testing import FakeStreamingChatModel

register_engine("surrogate", lambda config: FakeStreamingChatModel(chunks=["a\ud800", "b"]))
JSON_TYPE = {"content-type": "application/json"}
USER = [{"role": "user", "content": "What is the capital of France?"}]


def error(message: str, param: str | None, code: str = "invalid_value") -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


async def post(app: Any, path: str, raw: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        return await http.post(path, content=raw, headers=JSON_TYPE)


def chat(**fields: Any) -> bytes:
    return json.dumps({"model": "plain", "messages": USER, **fields}).encode()


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/guardrail/checks"])
async def test_deeply_nested_json_is_a_400(app: Any, depth: int, path: str) -> None:
    response = await post(app, path, b"[" * depth + b"]" * depth)
    assert (response.status_code, response.json()) == (
        400,
        error("The request body is nested too deeply (JSON)", None, "invalid_json"),
    )


LONE = '{"model": "plain", "messages": [{"role": "user", "content": "hi \\ud800"}]}'


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/guardrail/checks"])
async def test_lone_surrogate_in_content_is_a_400(app: Any, path: str) -> None:
    response = await post(app, path, LONE.encode())
    assert (response.status_code, response.json()) == (
        400,
        error(
            "messages[0].content holds a lone surrogate (\\ud800-\\udfff), which is not valid text",
            "messages[0].content",
        ),
    )


async def test_lone_surrogate_in_a_text_part_is_a_400(app: Any) -> None:
    parts = '[{"type": "text", "text": "ok"}, {"type": "text", "text": "\\udfff"}]'
    raw = '{"model": "plain", "messages": [{"role": "user", "content": ' + parts + "}]}"
    response = await post(app, "/v1/chat/completions", raw.encode())
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages[0].content[1].text"


async def test_lone_surrogate_from_the_model_is_replaced(tmp_path: Any) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "config.yml").write_text("models:\n  - {type: main, engine: surrogate}\n")
    app = create_app(folder)
    # Before the fix: a 500 text/plain "Internal Server Error".
    whole = await post(
        app, "/v1/chat/completions", b'{"messages": [{"role": "user", "content": "x"}]}'
    )
    assert whole.status_code == 200
    assert whole.json()["choices"][0]["message"]["content"] == "a\ufffdb"
    streamed = await post(
        app,
        "/v1/chat/completions",
        b'{"stream": true, "messages": [{"role": "user", "content": "x"}]}',
    )
    assert '"content":"a\ufffd"' in streamed.text and streamed.text.endswith("data: [DONE]\n\n")


RANGES = [
    (
        b'{"model": "plain", "messages": %s, "temperature": NaN}',
        "temperature must be between 0 and 2 (got nan)",
        "temperature",
    ),
    (
        b'{"model": "plain", "messages": %s, "temperature": 1e400}',
        "temperature must be between 0 and 2 (got inf)",
        "temperature",
    ),
    (
        b'{"model": "plain", "messages": %s, "temperature": -0.5}',
        "temperature must be between 0 and 2 (got -0.5)",
        "temperature",
    ),
    (
        b'{"model": "plain", "messages": %s, "max_tokens": 0}',
        "max_tokens must be between 1 and 1000000 (got 0)",
        "max_tokens",
    ),
    (
        b'{"model": "plain", "messages": %s, "max_tokens": -3}',
        "max_tokens must be between 1 and 1000000 (got -3)",
        "max_tokens",
    ),
    (
        b'{"model": "plain", "messages": %s, "max_tokens": 1000000000000000000000000000000}',
        "max_tokens must be between 1 and 1000000 (got 1000000000000000000000000000000)",
        "max_tokens",
    ),
    (
        b'{"model": "plain", "messages": %s, "max_tokens": 1e30}',
        "max_tokens must be an integer",
        "max_tokens",
    ),
    (
        b'{"model": "plain", "messages": %s, "top_p": 7}',
        "top_p must be between 0 and 1 (got 7)",
        "top_p",
    ),
    (
        b'{"model": "plain", "messages": %s, "presence_penalty": -Infinity}',
        "presence_penalty must be between -2 and 2 (got -inf)",
        "presence_penalty",
    ),
]


@pytest.mark.parametrize(("raw", "message", "param"), RANGES)
async def test_out_of_range_parameters_are_a_400(
    app: Any, raw: bytes, message: str, param: str
) -> None:
    response = await post(app, "/v1/chat/completions", raw % json.dumps(USER).encode())
    assert (response.status_code, response.json()) == (400, error(message, param))


UNSUPPORTED = [
    ("logprobs", True),
    ("top_logprobs", 3),
    ("logit_bias", {"50256": -100}),
    ("audio", {"voice": "alloy"}),
]


@pytest.mark.parametrize(("field", "value"), UNSUPPORTED)
async def test_unimplemented_fields_are_a_400_naming_them(app: Any, field: str, value: Any) -> None:
    response = await post(app, "/v1/chat/completions", chat(**{field: value}))
    assert (response.status_code, response.json()) == (
        400,
        error(f"{field} is not supported by the guardrails server", field, "unsupported_parameter"),
    )


@pytest.mark.parametrize("n", [2, 0, 1.0, True])
async def test_n_other_than_one_is_a_400(app: Any, n: Any) -> None:
    response = await post(app, "/v1/chat/completions", chat(n=n))
    assert (response.status_code, response.json()) == (
        400,
        error("only n=1 is supported", "n", "unsupported_value"),
    )


async def test_neutral_values_of_unimplemented_fields_are_accepted(app: Any) -> None:
    raw = chat(
        n=1,
        logprobs=False,
        response_format={"type": "text"},
        tool_choice="none",
        tools=[],
        temperature=0,
        top_p=1,
        max_tokens=1_000_000,
    )
    response = await post(app, "/v1/chat/completions", raw)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "The capital of France is Paris."
