"""``gliner detect|mask pii on input|output`` against a fake GLiNER server on 127.0.0.1, in
both formats NeMo's gliner action speaks (a GLiNER NIM's chat completions, a GLiNER server's
``/v1/extract``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from langchain_guardrails import ConfigError, Guardrails, RailsConfig
from langchain_guardrails.testing import FakeOpenAIServer, FakeStreamingChatModel

from .conftest import REFUSAL

TEXT = "Mail john@example.com or call 555-0100."
EXTRACT = {
    "entities": [
        {
            "value": "john@example.com",
            "suggested_label": "email",
            "start_position": 5,
            "end_position": 21,
            "score": 0.97,
        },
        {
            "value": "555-0100",
            "suggested_label": "phone_number",
            "start_position": 30,
            "end_position": 38,
            "score": 0.91,
        },
    ],
    "total_entities": 2,
    "tagged_text": "...",
}


def nim_answer(entities: list[dict[str, Any]]) -> dict[str, Any]:
    content = json.dumps({"entities": entities, "total_entities": len(entities)})
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


def nim_route(body: Any) -> tuple[int, dict[str, Any]]:
    text = body["messages"][0]["content"]
    found = [
        {"text": word, "label": label, "start": text.find(word), "end": text.find(word) + len(word)}
        for word, label in (("john@example.com", "email"), ("555-0100", "phone_number"))
        if word in text
    ]
    return 200, nim_answer(found)


def extract_route(body: Any) -> tuple[int, dict[str, Any]]:
    text = body["text"]
    found = [
        {
            "value": word,
            "suggested_label": label,
            "start_position": text.find(word),
            "end_position": text.find(word) + len(word),
            "score": 0.9,
        }
        for word, label in (("john@example.com", "email"), ("555-0100", "phone_number"))
        if word in text
    ]
    return 200, {"entities": found, "total_entities": len(found)}


def config(server: FakeOpenAIServer, flows: str, endpoint: str, **extra: str) -> RailsConfig:
    lines = "".join(f"      {k}: {v}\n" for k, v in extra.items())
    return RailsConfig.from_content(
        yaml_content=f"""
rails:
{flows}
  config:
    gliner:
      server_endpoint: {server.url}{endpoint}
{lines}"""
    )


def guard(cfg: RailsConfig, reply: str = "Noted.") -> Guardrails:
    chunks = [word + " " for word in reply.split(" ")]
    chunks[-1] = chunks[-1].rstrip(" ")
    return Guardrails(llm=FakeStreamingChatModel(chunks=chunks), config=cfg)


async def test_detect_on_input_blocks_pii_found_by_a_gliner_server(
    server: FakeOpenAIServer,
) -> None:
    server.routes["/v1/extract"] = lambda body: (
        200,
        EXTRACT if "@" in body["text"] else {"entities": [], "total_entities": 0},
    )
    cfg = config(
        server,
        "  input: {flows: [gliner detect pii on input]}",
        "/v1/extract",
        input="{entities: [email, phone_number]}",
    )
    guarded = guard(cfg)
    assert (await guarded.ainvoke("Hello there")).content == "Noted."
    blocked = await guarded.ainvoke(TEXT)
    meta = blocked.response_metadata["guardrails"]
    assert (blocked.content, meta["reason"], meta["entities"]) == (
        REFUSAL,
        "gliner detect pii on input: PII found: email, phone_number",
        ["email", "phone_number"],
    )
    bodies = [r.body for r in server.requests if r.path == "/v1/extract"]
    assert bodies[1] == {
        "text": TEXT,
        "threshold": 0.5,
        "chunk_length": 384,
        "overlap": 128,
        "flat_ner": False,
        "labels": ["email", "phone_number"],
    }


@pytest.mark.requires("langchain_openai")
async def test_mask_on_input_with_a_gliner_nim(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLINER_KEY", "secret-token")
    server.routes["/gliner/v1/chat/completions"] = nim_route
    server.replies = {"main-model": ["Noted."]}
    cfg = RailsConfig.from_content(
        yaml_content=f"""
models:
  - {{type: main, engine: nim, model: main-model, parameters: {{base_url: "{server.base_url}"}}}}
rails:
  input: {{flows: [gliner mask pii on input]}}
  config:
    gliner:
      server_endpoint: {server.url}/gliner/v1/chat/completions
      api_key_env_var: GLINER_KEY
      threshold: 0.3
"""
    )
    assert (await Guardrails(config=cfg).ainvoke(TEXT)).content == "Noted."
    (request,) = [r for r in server.requests if r.path == "/gliner/v1/chat/completions"]
    assert request.body == {
        "model": "nvidia/gliner-pii",
        "messages": [{"role": "user", "content": TEXT}],
        "threshold": 0.3,
        "chunk_length": 384,
        "overlap": 128,
        "flat_ner": False,
    }
    assert request.headers["Authorization"] == "Bearer secret-token"
    (main_call,) = server.chat_requests("main-model")
    assert main_call["messages"] == [
        {"role": "user", "content": "Mail [EMAIL] or call [PHONE_NUMBER]."}
    ]


async def test_mask_on_output_in_hold_back_mode(server: FakeOpenAIServer) -> None:
    server.routes["/v1/extract"] = extract_route
    cfg = config(
        server,
        "  output:\n    flows: [gliner mask pii on output]\n"
        "    streaming: {enabled: true, chunk_size: 50, context_size: 0, stream_first: false}",
        "/v1/extract",
    )
    chunks = [c async for c in guard(cfg, TEXT).astream("Contact?")]
    assert "".join(c.content for c in chunks) == "Mail [EMAIL] or call [PHONE_NUMBER]."


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ((500, {"error": "boom"}), "HTTP status 500"),
        ((200, b"not json"), "the answer is not JSON"),
        ((200, {"total_entities": 1}), "the answer has no 'entities' list"),
        (
            (
                200,
                {"entities": [{"start_position": 5, "end_position": 99, "suggested_label": "x"}]},
            ),
            "an entity's position is not in the text",
        ),
        ((200, {"entities": [{"start_position": 0, "end_position": 4}]}), "an entity has no label"),
    ],
)
async def test_a_failing_gliner_server_blocks(
    server: FakeOpenAIServer, answer: Any, problem: str
) -> None:
    server.routes["/v1/extract"] = answer
    cfg = config(server, "  input: {flows: [gliner detect pii on input]}", "/v1/extract")
    blocked = await guard(cfg).ainvoke(TEXT)
    assert blocked.content == REFUSAL
    assert blocked.response_metadata["guardrails"]["reason"] == (
        f"gliner detect pii on input: the GLiNER server gave no answer ({problem}); "
        "blocked to be safe"
    )


async def test_a_nim_answer_without_json_content_blocks(server: FakeOpenAIServer) -> None:
    server.routes["/v1/chat/completions"] = (200, {"choices": [{"message": {"content": "hi"}}]})
    cfg = config(server, "  input: {flows: [gliner detect pii on input]}", "/v1/chat/completions")
    blocked = await guard(cfg).ainvoke(TEXT)
    assert blocked.response_metadata["guardrails"]["reason"] == (
        "gliner detect pii on input: the GLiNER server gave no answer (the answer has no JSON "
        "message content); blocked to be safe"
    )


def test_bad_gliner_settings_are_clear_errors() -> None:
    with pytest.raises(ConfigError) as error:
        RailsConfig.from_content(
            yaml_content="rails:\n  config:\n    gliner: {chunk_length: 10, overlap: 10}\n"
        )
    assert str(error.value) == (
        "<yaml_content>:3: rails.config.gliner: overlap must be between 0 and chunk_length - 1 "
        "(9) (got 10)"
    )
    cfg = RailsConfig.from_content(
        yaml_content="rails: {input: {flows: [gliner detect pii on input $x=1]}}"
    )
    with pytest.raises(ConfigError) as error:
        Guardrails(llm=FakeStreamingChatModel(text=""), config=cfg)
    assert str(error.value) == (
        "'gliner detect pii on input' takes no $ parameters (got $x); configure it in "
        "rails.config.gliner"
    )


def test_gliner_on_retrieval_is_still_refused() -> None:
    cfg = RailsConfig.from_content(
        yaml_content="rails: {input: {flows: [gliner mask pii on retrieval]}}"
    )
    with pytest.raises(ConfigError) as error:
        Guardrails(llm=FakeStreamingChatModel(text=""), config=cfg)
    assert str(error.value) == (
        "rails.input.flows: 'gliner mask pii on retrieval' is NeMo Guardrails' gliner "
        "(retrieval) rail, not supported here: retrieval rails are not supported (only input, "
        "output and tool rails are)"
    )
