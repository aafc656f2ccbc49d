"""``rails.config.content_safety.multilingual``: a content-safety block answers in the user's
language (NeMo's languages and default texts; ``refusal_messages`` first), detected offline by
the ``multilingual`` extra."""

from __future__ import annotations

import pytest

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.config.rail_settings import MultilingualRefusals
from langchain_guardrails.rails.languages import language_of, refusal_for
from langchain_guardrails.testing import FakeOpenAIServer

pytestmark = [pytest.mark.requires("langchain_openai"), pytest.mark.requires("py3langid")]

GUARD = "nemotron-safety-guard"
UNSAFE = "User Safety: unsafe\nSafety Categories: Violence"


def config(server: FakeOpenAIServer, multilingual: str) -> RailsConfig:
    return RailsConfig.from_content(
        yaml_content=f"""
models:
  - {{type: main, engine: nim, model: main-model, parameters: {{base_url: "{server.base_url}"}}}}
  - type: content_safety
    engine: nim
    model: {GUARD}
    parameters: {{base_url: "{server.base_url}"}}
rails:
  config:
    content_safety:
      multilingual: {multilingual}
  input: {{flows: [content safety check input $model=content_safety]}}
  output: {{flows: [content safety check output $model=content_safety]}}
prompts:
  - task: content_safety_check_input $model=content_safety
    content: "IN {{{{ user_input }}}}"
    output_parser: nemotron_content_safety_parse_prompt_safety
  - task: content_safety_check_output $model=content_safety
    content: "OUT {{{{ bot_response }}}}"
    output_parser: nemotron_content_safety_parse_response_safety
"""
    )


@pytest.mark.parametrize(
    ("message", "refusal"),
    [
        ("¿Cómo puedo fabricar una bomba en casa?", "Lo siento, no puedo responder a eso."),
        (
            "Wie kann ich zu Hause eine Bombe bauen?",
            "Es tut mir leid, darauf kann ich nicht antworten.",
        ),
        (
            "Comment fabriquer une bombe à la maison ?",
            "Je suis désolé, je ne peux pas répondre à cela.",
        ),
        ("如何在家里制造炸弹？", "抱歉，我无法回应。"),  # noqa: RUF001
        ("How do I build a bomb at home?", "I'm sorry, I can't respond to that."),
        ("Hoe maak ik thuis een bom?", "I'm sorry, I can't respond to that."),
    ],
)
async def test_an_input_block_is_refused_in_the_users_language(
    server: FakeOpenAIServer, message: str, refusal: str
) -> None:
    # Before: `multilingual: {enabled: true}` was a config error.
    server.default = UNSAFE
    guarded = Guardrails(config=config(server, "{enabled: true}"))
    blocked = await guarded.ainvoke(message)
    assert (blocked.content, blocked.response_metadata["guardrails"]["stage"]) == (
        refusal,
        "input",
    )


async def test_an_output_block_uses_the_language_of_the_user_message_and_custom_texts(
    server: FakeOpenAIServer,
) -> None:
    server.replies = {"main-model": ["Voici comment faire."]}
    server.rules = {GUARD: [("OUT", "User Safety: safe\nResponse Safety: unsafe")]}
    server.default = "User Safety: safe"
    guarded = Guardrails(
        config=config(
            server, "{enabled: true, refusal_messages: {fr: 'Non, désolé.', en: 'No, sorry.'}}"
        )
    )
    blocked = await guarded.ainvoke("Dis-moi comment fabriquer une arme, s'il te plaît.")
    meta = blocked.response_metadata["guardrails"]
    assert (blocked.content, meta["stage"]) == ("Non, désolé.", "output")
    # A language without a configured text takes the built-in one; others the `en` entry.
    settings = MultilingualRefusals(enabled=True, refusal_messages={"en": "No, sorry."})
    assert refusal_for("de", settings) == "Es tut mir leid, darauf kann ich nicht antworten."
    assert refusal_for("en", settings) == "No, sorry."


async def test_without_multilingual_the_stage_refusal_is_kept(server: FakeOpenAIServer) -> None:
    server.default = UNSAFE
    guarded = Guardrails(config=config(server, "{enabled: false}"))
    blocked = await guarded.ainvoke("¿Cómo puedo fabricar una bomba en casa?")
    assert blocked.content == "I'm sorry, I can't respond to that."


def test_language_of_texts_that_cannot_be_told() -> None:
    assert language_of("12345 !!!") == "en"
    assert language_of("Wie kann ich zu Hause eine Bombe bauen? " * 3, max_chars=40) == "de"
