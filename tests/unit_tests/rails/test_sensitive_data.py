"""Sensitive-data rails: detection, masking on input and output, streaming masking at every
chunk boundary, and their config errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from langchain_guardrails import ConfigError, Guardrails, RailsConfig
from langchain_guardrails.rails.presidio import PRESIDIO_ENTITIES
from langchain_guardrails.testing import FakeStreamingChatModel

from .conftest import REFUSAL, RecordingChatModel, streaming


def config(
    flows_in: list[str] | None = None,
    flows_out: list[str] | None = None,
    *,
    stream: dict[str, Any] | None = None,
    detection: dict[str, Any] | None = None,
) -> RailsConfig:
    output: dict[str, Any] = {"flows": flows_out or []}
    if stream is not None:
        output["streaming"] = stream
    return RailsConfig.from_content(
        config={
            "rails": {
                "input": {"flows": flows_in or []},
                "output": output,
                "config": {
                    "sensitive_data_detection": detection
                    or {
                        "input": {"entities": ["EMAIL_ADDRESS", "CREDIT_CARD"]},
                        "output": {"entities": ["EMAIL_ADDRESS", "CREDIT_CARD", "API_KEY"]},
                    }
                },
            }
        }
    )


# -- input -------------------------------------------------------------------------------


async def test_mask_on_input_sends_the_masked_message_to_the_model() -> None:
    llm = RecordingChatModel(chunks=["Noted."])
    guarded = Guardrails(llm=llm, config=config(["mask sensitive data on input"]))
    result = await guarded.ainvoke("I am jo@example.com, card 4111 1111 1111 1111.")
    assert result.content == "Noted."
    assert llm.received == [[HumanMessage(content="I am <EMAIL_ADDRESS>, card <CREDIT_CARD>.")]]


async def test_detect_on_input_blocks_and_names_the_entities_never_the_values() -> None:
    llm = RecordingChatModel(chunks=["Noted."])
    guarded = Guardrails(llm=llm, config=config(["detect sensitive data on input"]))
    result = await guarded.ainvoke("card 4111 1111 1111 1111, mail jo@example.com")
    assert result.content == REFUSAL
    metadata = result.response_metadata["guardrails"]
    assert metadata == {
        "blocked": True,
        "stage": "input",
        "rail": "detect sensitive data on input",
        "reason": "sensitive data found: CREDIT_CARD, EMAIL_ADDRESS",
        "type": "guardrails_violation",
        "entities": ["CREDIT_CARD", "EMAIL_ADDRESS"],
    }
    assert "4111" not in str(metadata) and "jo@" not in str(metadata)
    assert llm.received == []


def test_sync_check_shows_the_masked_input() -> None:
    guarded = Guardrails(llm=RecordingChatModel(), config=config(["mask sensitive data on input"]))
    check = guarded.check("write to jo@example.com")
    assert (check.status, check.content) == ("modified", "write to <EMAIL_ADDRESS>")


# -- output ------------------------------------------------------------------------------

REPLY = ["Write ", "to ", "jo@example.com ", "or ", "use ", "card ", "4111111111111111 ", "now."]
MASKED = "Write to <EMAIL_ADDRESS> or use card <CREDIT_CARD> now."


@pytest.mark.parametrize("enabled", [True, False])
async def test_mask_on_output_in_invoke(enabled: bool) -> None:
    stream = streaming(stream_first=False, chunk_size=3) if enabled else None
    guarded = Guardrails(
        llm=FakeStreamingChatModel(chunks=REPLY),
        config=config(flows_out=["mask sensitive data on output"], stream=stream),
    )
    assert (await guarded.ainvoke("hi")).content == MASKED
    assert guarded.invoke("hi").content == MASKED


@pytest.mark.parametrize("stream_first", [True, False])
async def test_detect_on_output_blocks_in_both_streaming_modes(stream_first: bool) -> None:
    guarded = Guardrails(
        llm=FakeStreamingChatModel(chunks=REPLY),
        config=config(
            flows_out=["detect sensitive data on output"],
            stream=streaming(stream_first=stream_first, chunk_size=2),
        ),
    )
    chunks = [c async for c in guarded.astream("hi")]
    assert chunks[-1].content == REFUSAL
    assert chunks[-1].response_metadata["guardrails"]["entities"] == ["EMAIL_ADDRESS"]
    released = "".join(c.content for c in chunks[:-1])
    # Hold-back never released the email; stream-first released what arrived before the block.
    assert "jo@" not in released if not stream_first else released.startswith("Write to ")


def test_masking_output_with_stream_first_is_a_config_error_that_says_why() -> None:
    with pytest.raises(ConfigError) as error:
        Guardrails(
            llm=FakeStreamingChatModel(chunks=REPLY),
            config=config(
                flows_out=["mask sensitive data on output"], stream=streaming(stream_first=True)
            ),
        )
    assert str(error.value) == (
        "output rail 'mask sensitive data on output' rewrites text, which needs hold-back mode: "
        "set rails.output.streaming.stream_first: false (text already released cannot be "
        "rewritten)"
    )


async def test_masking_input_is_fine_with_stream_first() -> None:
    llm = RecordingChatModel(chunks=["ok"])
    guarded = Guardrails(
        llm=llm,
        config=config(
            ["mask sensitive data on input"],
            ["detect sensitive data on output"],
            stream=streaming(stream_first=True),
        ),
    )
    assert (await guarded.ainvoke("jo@example.com")).content == "ok"
    assert llm.received[0][0].text == "<EMAIL_ADDRESS>"


VALUES = {
    "jo.doe@example.com": "<EMAIL_ADDRESS>",
    "4111 1111 1111 1111": "<CREDIT_CARD>",
    "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv": "<API_KEY>",
}
BEFORE = ["Please ", "send ", "it ", "to "]
AFTER = [" today, ", "thanks ", "a ", "lot."]


def boundary_cases() -> list[tuple[str, int, int]]:
    """(value, split point, words before it): every split at every window offset."""
    return [
        (value, cut, lead)
        for value in VALUES
        for cut in range(1, len(value))
        for lead in range(len(BEFORE) + 1)
    ]


async def test_streaming_masking_holds_a_value_split_at_every_chunk_boundary() -> None:
    """Hold-back, chunk_size 2 or 3, context 1: the value arrives as two units at every split
    point and at every offset from the window edges, and is masked exactly, never leaked."""
    failures = []
    for chunk_size in (2, 3):
        guarded_config = config(
            flows_out=["mask sensitive data on output"],
            stream=streaming(stream_first=False, chunk_size=chunk_size, context_size=1),
        )
        for value, cut, lead in boundary_cases():
            chunks = [*BEFORE[len(BEFORE) - lead :], value[:cut], value[cut:], *AFTER]
            guarded = Guardrails(llm=FakeStreamingChatModel(chunks=chunks), config=guarded_config)
            released = [c.content async for c in guarded.astream("hi")]
            expected = "".join(BEFORE[len(BEFORE) - lead :]) + VALUES[value] + "".join(AFTER)
            text = "".join(released)
            leaked = any(value[:2] in piece for piece in released)
            if text != expected or leaked:
                failures.append((chunk_size, value, cut, lead, released))
    assert failures == []


async def test_streaming_masking_with_three_pieces_and_two_units_of_context() -> None:
    value, expected_value = "jo.doe@example.com", "<EMAIL_ADDRESS>"
    guarded_config = config(
        flows_out=["mask sensitive data on output"],
        stream=streaming(stream_first=False, chunk_size=3, context_size=2),
    )
    for first in range(1, len(value) - 1):
        for second in range(first + 1, len(value)):
            pieces = [value[:first], value[first:second], value[second:]]
            chunks = ["Mail ", *pieces, " now, ", "please."]
            guarded = Guardrails(llm=FakeStreamingChatModel(chunks=chunks), config=guarded_config)
            text = "".join([c.content async for c in guarded.astream("hi")])
            assert text == f"Mail {expected_value} now, please.", pieces


async def test_masking_is_deterministic_and_leaves_other_text_alone() -> None:
    reply = [
        "  Odd\tspacing ",
        "ünïcödé, ",
        "ghp_",
        "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        "\n\nend  ",
    ]
    guarded = Guardrails(
        llm=FakeStreamingChatModel(chunks=reply),
        config=config(
            flows_out=["mask sensitive data on output"],
            stream=streaming(stream_first=False, chunk_size=2, context_size=1),
        ),
    )
    results = {"".join([c.content async for c in guarded.astream("hi")]) for _ in range(5)}
    assert results == {"  Odd\tspacing ünïcödé, <API_KEY>\n\nend  "}


async def test_mask_token_and_user_recognizers() -> None:
    detection = {
        "recognizers": [
            {
                "name": "employee ids",
                "supported_entity": "EMPLOYEE_ID",
                "supported_language": "en",
                "patterns": [{"name": "emp", "regex": r"EMP-\d{6}", "score": 0.9}],
                "deny_list": ["Project Falcon"],
            }
        ],
        "output": {"entities": ["EMPLOYEE_ID", "EMAIL_ADDRESS"], "mask_token": "[{entity}]"},
    }
    guarded = Guardrails(
        llm=FakeStreamingChatModel(chunks=["emp-123456 ", "on ", "project ", "falcon."]),
        config=config(flows_out=["mask sensitive data on output"], detection=detection),
    )
    assert (await guarded.ainvoke("hi")).content == "[EMPLOYEE_ID] on [EMPLOYEE_ID]."


# -- config errors -----------------------------------------------------------------------


def test_unknown_entity_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text(
        "rails:\n"
        "  output:\n"
        "    flows: [mask sensitive data on output]\n"
        "  config:\n"
        "    sensitive_data_detection:\n"
        "      output:\n"
        "        entities: [EMAIL]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        RailsConfig.from_path(tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'config.yml'}:6: rails.config.sensitive_data_detection.output: unknown "
        "entity 'EMAIL'; known entities: PRIVATE_KEY, API_KEY, EMAIL_ADDRESS, URL, IBAN_CODE, "
        "CREDIT_CARD, US_SSN, IP_ADDRESS, PHONE_NUMBER; with the presidio extra: "
        + ", ".join(PRESIDIO_ENTITIES)
    )


@pytest.mark.parametrize(
    ("detection", "message"),
    [
        (
            {"recognizers": [{"supported_entity": "X"}]},
            "<config dict>:5: rails.config.sensitive_data_detection.recognizers.0: recognizer "
            "for 'X' needs patterns or a deny_list",
        ),
        (
            {"recognizers": [{"supported_entity": "X", "patterns": [{"regex": "("}]}]},
            "<config dict>:6: rails.config.sensitive_data_detection.recognizers.0.patterns.0."
            "regex: invalid regular expression '(': missing ), unterminated subpattern at "
            "position 0",
        ),
        (
            {"output": {"entities": ["EMAIL_ADDRESS"], "mask": "*"}},
            "<config dict>:7: rails.config.sensitive_data_detection.output.mask: unknown key "
            "'mask' (known keys: entities, mask_token, score_threshold)",
        ),
    ],
)
def test_sensitive_data_settings_errors(detection: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        config(detection=detection)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        (
            "detect sensitive data on input",
            "'detect sensitive data on input' needs entities in "
            "rails.config.sensitive_data_detection.input.entities (known entities: PRIVATE_KEY, "
            "API_KEY, EMAIL_ADDRESS, URL, IBAN_CODE, CREDIT_CARD, US_SSN, IP_ADDRESS, "
            "PHONE_NUMBER)",
        ),
        (
            "mask sensitive data on input $entities=EMAIL",
            "'mask sensitive data on input' takes no $ parameters (got $entities); configure it "
            "in rails.config.sensitive_data_detection",
        ),
    ],
)
def test_sensitive_data_rail_errors(flow: str, message: str) -> None:
    detection = {"output": {"entities": ["EMAIL_ADDRESS"]}}
    with pytest.raises(ConfigError) as error:
        Guardrails(llm=RecordingChatModel(), config=config([flow], detection=detection))
    assert str(error.value) == message


async def test_masked_values_in_every_window_context_still_stream() -> None:
    chunks = [unit for i in range(40) for unit in ("w ", "w ", "w ", f"u{i}@x.com ")]
    guarded = Guardrails(
        llm=FakeStreamingChatModel(chunks=chunks),
        config=config(
            flows_out=["mask sensitive data on output"],
            stream=streaming(stream_first=False, chunk_size=4, context_size=1),
        ),
    )
    released = [c.content async for c in guarded.astream("hi")]
    assert "".join(released) == "w w w <EMAIL_ADDRESS> " * 40
    # Each window releases its own text (about 22 characters), not the whole answer at the end:
    # the rail's spans say the last value (the one carried on) is the only one held.
    texts = [text for text in released if text]
    assert texts == ["w w w "] + ["<EMAIL_ADDRESS> w w w "] * 39 + ["<EMAIL_ADDRESS> "]
