"""Issue 23 item 3: every route in front of every kind of upstream, one guarded run under all.

The gateway runs as a process of its own. Its configs' main models are the three kinds the
issue names: an OpenAI-compatible endpoint (the fast path), a LangChain chat model (the offline
``scripted`` engine) and ``ChatOpenAI(use_responses_api=True)``, the last pointed at a second
gateway process's ``/v1/responses``. Each route (chat, Responses, Messages), through its real SDK,
must show the same answer, and the same refusal with no fragment of the blocked text, whatever
the upstream: the protocols only encode one guarded stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from anthropic import Anthropic
from openai import OpenAI

from langchain_guardrails.testing import FakeOpenAIServer, FakeReply

from .server_process import served

REFUSAL = "I'm sorry, I can't respond to that."
ANSWERS = {
    "plain": "The capital of France is Paris.",
    "blocked": "Welcome to Atlantis, the lost city of gold.",
}
RAILS = """\
rails:
  output:
    flows: [regex check output]
    streaming: {enabled: true, chunk_size: 4, context_size: 1, stream_first: false}
  config:
    regex_detection:
      output: {patterns: ["Atlantis"]}
"""
KINDS = ("openai", "langchain", "responses")


def _model(kind: str, answer: str, upstream: str, relay: str) -> str:
    if kind == "openai":
        parameters = f"{{base_url: '{upstream}', api_key: unused, max_retries: 0}}"
        return f"engine: openai\n    model: {answer}\n    parameters: {parameters}"
    if kind == "langchain":
        return f"engine: scripted\n    parameters: {{default_reply: '{ANSWERS[answer]}'}}"
    parameters = (
        f"{{base_url: '{relay}/v1', api_key: unused, max_retries: 0, use_responses_api: true}}"
    )
    return f"engine: openai\n    model: {answer}\n    parameters: {parameters}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeOpenAIServer]]:
    root = tmp_path_factory.mktemp("upstreams")
    with ExitStack() as stack:
        upstream = stack.enter_context(
            FakeOpenAIServer(
                {
                    **{name: [FakeReply(text=text)] for name, text in ANSWERS.items()},
                    **{f"relayed-{name}": [FakeReply(text=text)] for name, text in ANSWERS.items()},
                }
            )
        )
        # The Responses upstream: a plain gateway (no rails) over the fake server.
        (root / "relay").mkdir()
        for name in ANSWERS:
            (root / "relay" / name).mkdir()
            (root / "relay" / name / "config.yml").write_text(
                "models:\n  - type: main\n    "
                + _model("openai", f"relayed-{name}", upstream.base_url, "")
            )
        relay = stack.enter_context(served(root / "relay"))
        (root / "guarded").mkdir()
        for kind in KINDS:
            for name in ANSWERS:
                folder = root / "guarded" / f"{kind}-{name}"
                folder.mkdir()
                model = _model(kind, name, upstream.base_url, relay)
                (folder / "config.yml").write_text(f"models:\n  - type: main\n    {model}\n{RAILS}")
        yield stack.enter_context(served(root / "guarded")), upstream


def chat(url: str, model: str) -> tuple[str, str | None]:
    with OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk:
        chunks = list(
            sdk.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Tell me."}], stream=True
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasons = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    return text, reasons[-1] if reasons else None


def responses(url: str, model: str) -> tuple[str, str, list[str]]:
    with OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk:
        events: list[Any] = list(sdk.responses.create(model=model, input="Tell me.", stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    refusal = "".join(e.delta for e in events if e.type == "response.refusal.delta")
    return text, refusal, [events[-1].type]


def messages(url: str, model: str) -> tuple[str, str | None]:
    with (
        Anthropic(base_url=url, api_key="unused", max_retries=0) as sdk,
        sdk.messages.stream(
            model=model, max_tokens=64, messages=[{"role": "user", "content": "Tell me."}]
        ) as stream,
    ):
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    return text, final.stop_reason


SEEN: dict[str, tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]] = {
    # answer: what the client of each route sees (chat, Responses, Messages)
    "plain": (
        (ANSWERS["plain"], "stop"),
        (ANSWERS["plain"], "", ["response.completed"]),
        (ANSWERS["plain"], "end_turn"),
    ),
    # Hold-back: the first window already holds the blocked word, so nothing was released.
    "blocked": (
        (REFUSAL, "content_filter"),
        ("", REFUSAL, ["response.incomplete"]),
        (REFUSAL, "refusal"),
    ),
}


@pytest.mark.parametrize("answer", SEEN)
@pytest.mark.parametrize("kind", KINDS)
def test_every_route_reads_the_same_whatever_the_upstream(
    gateway: tuple[str, FakeOpenAIServer], kind: str, answer: str
) -> None:
    url, upstream = gateway
    model = f"{kind}-{answer}"
    before = len(upstream.chat_requests(f"relayed-{answer}"))
    seen = (chat(url, model), responses(url, model), messages(url, model))
    assert seen == SEEN[answer]
    # Only the `responses` kind went through the relay's /v1/responses (once per route).
    relayed = len(upstream.chat_requests(f"relayed-{answer}")) - before
    assert relayed == (3 if kind == "responses" else 0)
