"""Latency users feel with slow (LLM-judge) rails: time to first chunk and total, against the
raw model in the same run (issue 12's scenario).

A model at 20 ms per unit (300 units), a judge rail of 400 ms on input and on output. The
scenarios are independent and sleep-bound, so one repetition runs them all concurrently; the
figures are medians over the repetitions.

    python benchmarks/latency.py [--reps 3] [--units 300] [--unit-ms 20] [--judge-ms 400]

Hold-back has a floor: a unit is released only after a checked window holds it and the K units
after it, so the first release waits for the first window that ends after unit K+1, plus one
check. With growing windows (``first_chunk_size``) that window is small.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from langchain_guardrails import Guardrails, RailsConfig, action
from langchain_guardrails.testing import FakeStreamingChatModel

PROMPT = "Tell me a long story."


@dataclass(frozen=True)
class Scenario:
    name: str
    input_rail: bool = False
    output_rail: bool = False
    stream_first: bool = False
    chunk: int = 200
    context: int = 50
    first: int | None = None
    speculative: bool = False


SCENARIOS = [
    Scenario("input rail only", input_rail=True),
    Scenario("output rail, hold-back", output_rail=True),
    Scenario("input + output, hold-back", input_rail=True, output_rail=True),
    Scenario("  same, C=20 K=5", input_rail=True, output_rail=True, chunk=20, context=5),
    Scenario(
        "NEW K=50 first=10 speculative",
        input_rail=True,
        output_rail=True,
        first=10,
        speculative=True,
    ),
    Scenario(
        "NEW K=5 first=10 speculative",
        input_rail=True,
        output_rail=True,
        context=5,
        first=10,
        speculative=True,
    ),
    Scenario(
        "NEW K=50 first=10 spec. stream_first",
        input_rail=True,
        output_rail=True,
        first=10,
        speculative=True,
        stream_first=True,
    ),
]


class Judges:
    """The two judge rails, with a count of output checks per scenario run."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.output_calls = 0

    def actions(self) -> list[Any]:
        @action(name="input judge")
        async def input_judge(text: str) -> bool:
            await asyncio.sleep(self.seconds)
            return True

        @action(name="output judge")
        async def output_judge(text: str) -> bool:
            self.output_calls += 1
            await asyncio.sleep(self.seconds)
            return True

        return [input_judge, output_judge]


def build(scenario: Scenario, model: FakeStreamingChatModel, judges: Judges) -> Guardrails:
    streaming: dict[str, Any] = {
        "enabled": True,
        "chunk_size": scenario.chunk,
        "context_size": scenario.context,
        "stream_first": scenario.stream_first,
    }
    if scenario.first is not None:
        streaming["first_chunk_size"] = scenario.first
    config = RailsConfig.from_content(
        config={
            "rails": {
                "input": {
                    "flows": ["input judge"] if scenario.input_rail else [],
                    "speculative_generation": scenario.speculative,
                },
                "output": {
                    "flows": ["output judge"] if scenario.output_rail else [],
                    "streaming": streaming,
                },
            }
        }
    )
    return Guardrails(llm=model, config=config, actions=judges.actions())


async def timed(stream: AsyncIterator[Any]) -> tuple[float, float]:
    """(time to the first non-empty chunk, total) in seconds."""
    start = time.perf_counter()
    first: float | None = None
    async for chunk in stream:
        if first is None and chunk.content:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return (total if first is None else first), total


def floor(scenario: Scenario, unit_s: float, judge_s: float) -> float | None:
    """The first release's physical floor in hold-back: the first window ending after unit
    K+1, plus one check (``None`` in stream_first mode: bounded by the input rail)."""
    if scenario.stream_first or not scenario.output_rail:
        return None
    end, size = 0, scenario.first or scenario.chunk
    while end <= scenario.context:
        end += size
        size = min(2 * size, scenario.chunk)
    return end * unit_s + judge_s


async def main(reps: int, units: int, unit_ms: float, judge_ms: float) -> None:
    unit_s, judge_s = unit_ms / 1e3, judge_ms / 1e3
    chunks = [f"w{i} " for i in range(units)]
    rows: dict[str, list[tuple[float, float, int]]] = {"raw model": []}
    for scenario in SCENARIOS:
        rows[scenario.name] = []
    for _ in range(reps):
        jobs: list[Callable[[], Any]] = []
        names = ["raw model"]
        raw = FakeStreamingChatModel(chunks=chunks, delay=unit_s, stream_usage=True)
        judges_of: list[Judges | None] = [None]
        jobs.append(lambda raw=raw: timed(raw.astream(PROMPT)))  # type: ignore[misc]
        for scenario in SCENARIOS:
            judges = Judges(judge_s)
            model = FakeStreamingChatModel(chunks=chunks, delay=unit_s)
            guarded = build(scenario, model, judges)
            jobs.append(lambda g=guarded: timed(g.astream(PROMPT)))  # type: ignore[misc]
            names.append(scenario.name)
            judges_of.append(judges)
        results = await asyncio.gather(*(job() for job in jobs))
        for name, judges, (first, total) in zip(names, judges_of, results, strict=True):
            rows[name].append((first, total, judges.output_calls if judges else 0))
    raw_total = statistics.median(t for _, t, _ in rows["raw model"])
    print(
        f"\n{units} units at {unit_ms:g} ms, judge rails of {judge_ms:g} ms, C=200 K=50 unless "
        f"named; medians of {reps} runs"
    )
    columns = ("first chunk", "floor", "total", "- raw", "out calls")
    widths = (11, 7, 8, 8, 9)
    print(f"{'scenario':38} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    by_name = {s.name: s for s in SCENARIOS}
    for name, values in rows.items():
        first = statistics.median(v[0] for v in values) * 1e3
        total = statistics.median(v[1] for v in values)
        calls = statistics.median(v[2] for v in values)
        scenario = by_name.get(name)
        low = floor(scenario, unit_s, judge_s) if scenario else None
        low_text = f"{low * 1e3:5.0f}ms" if low is not None else "      -"
        print(
            f"{name:38} {first:9.0f}ms {low_text} {total:7.2f}s {(total - raw_total) * 1e3:6.0f}ms "
            f"{calls:9.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--unit-ms", type=float, default=20.0)
    parser.add_argument("--judge-ms", type=float, default=400.0)
    args = parser.parse_args()
    asyncio.run(main(args.reps, args.units, args.unit_ms, args.judge_ms))
