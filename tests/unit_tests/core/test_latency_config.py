"""Config of the latency features: ``first_chunk_size``, ``speculative_generation``,
``rails.output.max_tokens``."""

from __future__ import annotations

import itertools

import pytest

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.streaming.windows import WindowPlan
from langchain_guardrails.testing import FakeStreamingChatModel


def error_of(yaml_content: str) -> str:
    with pytest.raises(ConfigError) as info:
        RailsConfig.from_content(yaml_content=yaml_content)
    return str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "first_chunk_size must be between 1 and chunk_size (20) (got 0)"),
        (-2, "first_chunk_size must be between 1 and chunk_size (20) (got -2)"),
        (21, "first_chunk_size must be between 1 and chunk_size (20) (got 21)"),
    ],
)
def test_first_chunk_size_out_of_range_is_an_error(value: int, expected: str) -> None:
    message = error_of(
        "rails:\n  output:\n    streaming:\n      chunk_size: 20\n      context_size: 5\n"
        f"      first_chunk_size: {value}\n"
    )
    assert message == f"<yaml_content>:3: rails.output.streaming: {expected}"


def test_max_tokens_below_one_is_an_error() -> None:
    message = error_of("rails:\n  output:\n    max_tokens: 0\n")
    assert message == "<yaml_content>:3: rails.output.max_tokens: max_tokens must be >= 1 (got 0)"


def test_defaults_keep_todays_behaviour() -> None:
    config = RailsConfig.from_content(yaml_content="rails:\n  output:\n    streaming: {}\n")
    assert config.rails.input.speculative_generation is False
    assert config.rails.output.streaming.first_chunk_size is None
    assert config.rails.output.max_tokens is None
    plan = WindowPlan.from_config(
        config.rails.output.streaming.model_copy(update={"enabled": True}), rewrites=False
    )
    assert list(itertools.islice(plan.sizes(), 3)) == [200, 200, 200]


def test_windows_grow_from_first_chunk_size_to_chunk_size() -> None:
    config = RailsConfig.from_content(
        yaml_content=(
            "rails:\n  output:\n    streaming:\n      enabled: true\n      chunk_size: 200\n"
            "      context_size: 50\n      first_chunk_size: 10\n"
        )
    )
    plan = WindowPlan.from_config(config.rails.output.streaming, rewrites=False)
    assert list(itertools.islice(plan.sizes(), 7)) == [10, 20, 40, 80, 160, 200, 200]


async def test_growing_windows_check_the_exact_windows_of_the_issue_scenario() -> None:
    seen: list[tuple[int, int]] = []
    units = [f"u{i} " for i in range(300)]

    def record(text: str) -> bool:
        words = text.split()
        seen.append((int(words[0][1:]), int(words[-1][1:]) + 1))
        return True

    from langchain_guardrails import action

    rail = action(name="record", inline=True)(record)
    config = RailsConfig.from_content(
        config={
            "rails": {
                "output": {
                    "flows": ["record"],
                    "streaming": {
                        "enabled": True,
                        "chunk_size": 200,
                        "context_size": 50,
                        "first_chunk_size": 10,
                        "stream_first": False,
                    },
                }
            }
        }
    )
    guarded = Guardrails(llm=FakeStreamingChatModel(chunks=units), config=config, actions=[rail])
    message = await guarded.ainvoke("go")
    assert message.content == "".join(units)
    # Windows of 10, 20, 40, 80 new units, then the 150 left; 50 units of context (all the
    # earlier units while there are fewer).
    assert seen == [(0, 10), (0, 30), (0, 70), (20, 150), (100, 300)]
    assert message.response_metadata["guardrails"]["windows"] == 5
