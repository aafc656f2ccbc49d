"""Overhead of guarding an agent: a 5-step tool loop ending in a 2,000-unit answer.

The same ``create_agent`` graph runs three ways in one process: with the raw model, with a
``Guardrails`` model (``create_agent(model=Guardrails(...))``) and with ``GuardrailsMiddleware``
around the raw model. The rails are cheap regex rails on every stage (input, output windows
C=200 K=50 hold-back, tool calls, tool results). Each repetition runs the raw agent and a guarded
one back to back (paired) and streams ``stream_mode="messages"``; the table shows medians and the
median of the per-pair wall-time ratios (target <= 1.2).

    python benchmarks/agents.py [--reps 5] [--units 2000] [--delay 0.0005]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from langchain.agents import create_agent
from langchain_core.tools import tool

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.agents.middleware import GuardrailsMiddleware
from langchain_guardrails.testing import FakeToolCallingModel, FakeTurn

STEPS = 5
CONFIG = RailsConfig.from_content(
    config={
        "rails": {
            "input": {"flows": ["regex check input"]},
            "output": {
                "flows": ["regex check output"],
                "streaming": {
                    "enabled": True,
                    "chunk_size": 200,
                    "context_size": 50,
                    "stream_first": False,
                },
            },
            "tool_output": {"flows": ["regex check output"]},
            "tool_input": {"flows": ["regex check input"]},
            "config": {
                "regex_detection": {
                    "input": {"patterns": [r"\bignore previous\b"]},
                    "output": {"patterns": [r"\bforbidden phrase\b"]},
                }
            },
        }
    }
)


@tool
def lookup(step: int) -> str:
    """Look something up."""
    return f"result of step {step}: nothing unusual"


def script(units: int) -> list[FakeTurn]:
    steps = [
        FakeTurn(
            text=f"Step {i}, looking it up.",
            tool_calls=[{"name": "lookup", "args": {"step": i}, "id": f"call-{i}"}],
        )
        for i in range(STEPS)
    ]
    return [*steps, FakeTurn(text=" ".join(f"w{i}" for i in range(units)))]


async def run(agent: Any) -> float:
    start = time.perf_counter()
    seen = 0
    async for _message, _meta in agent.astream(
        {"messages": [("user", "Do the five steps.")]}, stream_mode="messages"
    ):
        seen += 1
    assert seen > 0
    return time.perf_counter() - start


async def paired(raw: Any, guarded: Any, reps: int) -> dict[str, float]:
    await run(raw)  # warm-up both
    await run(guarded)
    t_raw, t_guarded, ratios = [], [], []
    for _ in range(reps):
        r = await run(raw)
        g = await run(guarded)
        t_raw.append(r)
        t_guarded.append(g)
        ratios.append(g / r)
    return {
        "raw_ms": statistics.median(t_raw) * 1e3,
        "guarded_ms": statistics.median(t_guarded) * 1e3,
        "ratio": statistics.median(ratios),
    }


async def main(reps: int, units: int, delay: float) -> None:
    model = FakeToolCallingModel(turns=script(units), delay=delay)
    agents: dict[str, Callable[[], Any]] = {
        "guarded model": lambda: create_agent(
            model=Guardrails(llm=model, config=CONFIG), tools=[lookup]
        ),
        "middleware": lambda: create_agent(
            model=model, tools=[lookup], middleware=[GuardrailsMiddleware(config=CONFIG)]
        ),
    }
    raw = create_agent(model=model, tools=[lookup])
    print(
        f"{STEPS}-step tool loop + {units}-unit answer, a unit every {delay * 1e3:g} ms, "
        f"{reps} paired repetitions, medians"
    )
    print(f"{'agent':16} {'raw ms':>9} {'guarded ms':>11} {'ratio':>6}")
    for name, build in agents.items():
        r = await paired(raw, build(), reps)
        print(f"{name:16} {r['raw_ms']:9.1f} {r['guarded_ms']:11.1f} {r['ratio']:6.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=0.0005)
    args = parser.parse_args()
    asyncio.run(main(args.reps, args.units, args.delay))
