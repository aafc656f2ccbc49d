"""Streaming overhead of `Guardrails` against the raw model, measured in the same process.

Every scenario runs the raw model's own ``astream`` and the guarded one alternately (paired), and
reports the median of the per-pair ratios, so machine noise hits both sides alike.

    python benchmarks/stream_overhead.py [--reps 15] [--units 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.tracers.base import BaseTracer

from langchain_guardrails import Guardrails, RailsConfig, action
from langchain_guardrails.testing import FakeStreamingChatModel

PROMPT = "Tell me a long story."


class KeepingTracer(BaseTracer):
    """Builds every run (inputs, outputs, streamed-token events) like LangChainTracer, and keeps
    finished root runs in memory instead of posting them."""

    run_inline = True  # as LangChainTracer: no executor hop per event

    def __init__(self) -> None:
        super().__init__()
        self.finished: list[Any] = []

    def _persist_run(self, run: Any) -> None:
        self.finished.append(run)


def rails_config(
    *, stream_first: bool, chunk: int = 200, context: int = 50, flow: str
) -> RailsConfig:
    return RailsConfig.from_content(
        config={
            "rails": {
                "output": {
                    "flows": [flow],
                    "streaming": {
                        "enabled": True,
                        "chunk_size": chunk,
                        "context_size": context,
                        "stream_first": stream_first,
                    },
                },
                "config": {"regex_detection": {"output": {"patterns": [r"\bforbidden phrase\b"]}}},
            }
        }
    )


async def drain(stream: Any) -> tuple[float, float]:
    """(total seconds, seconds to the first chunk with text)."""
    start = time.perf_counter()
    first = None
    async for chunk in stream:
        if first is None and chunk.content:
            first = time.perf_counter()
    end = time.perf_counter()
    return end - start, (first or end) - start


async def paired(raw: Callable[[], Any], guarded: Callable[[], Any], reps: int) -> dict[str, float]:
    ratios, extras, ttft_raw, ttft_guarded, t_raw, t_guarded = [], [], [], [], [], []
    await drain(raw())  # warm-up both paths
    await drain(guarded())
    for _ in range(reps):
        r_total, r_first = await drain(raw())
        g_total, g_first = await drain(guarded())
        ratios.append(g_total / r_total)
        extras.append(g_total - r_total)
        t_raw.append(r_total)
        t_guarded.append(g_total)
        ttft_raw.append(r_first)
        ttft_guarded.append(g_first)
    return {
        "raw_ms": statistics.median(t_raw) * 1e3,
        "guarded_ms": statistics.median(t_guarded) * 1e3,
        "ratio": statistics.median(ratios),
        "extra_ms": statistics.median(extras) * 1e3,
        "ttft_raw_ms": statistics.median(ttft_raw) * 1e3,
        "ttft_guarded_ms": statistics.median(ttft_guarded) * 1e3,
    }


async def concurrent(
    raw: Callable[[], Any], guarded: Callable[[], Any], reps: int, streams: int
) -> dict[str, float]:
    async def many(factory: Callable[[], Any]) -> float:
        start = time.perf_counter()
        await asyncio.gather(*(drain(factory()) for _ in range(streams)))
        return time.perf_counter() - start

    ratios, t_raw, t_guarded = [], [], []
    for _ in range(reps):
        r, g = await many(raw), await many(guarded)
        ratios.append(g / r)
        t_raw.append(r)
        t_guarded.append(g)
    return {
        "raw_ms": statistics.median(t_raw) * 1e3,
        "guarded_ms": statistics.median(t_guarded) * 1e3,
        "ratio": statistics.median(ratios),
    }


async def peak_memory(factory: Callable[[], Awaitable[Any]]) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    await factory()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


async def main(reps: int, units: int) -> None:
    model = FakeStreamingChatModel(chunks=[f"w{i} " for i in range(units)])
    raw_model = model.model_copy(update={"stream_usage": True})  # same work as the guarded copy
    no_rails = Guardrails(llm=model, config=RailsConfig.from_content(config={}))
    regex_first = Guardrails(
        llm=model, config=rails_config(stream_first=True, flow="regex check output")
    )
    regex_hold = Guardrails(
        llm=model, config=rails_config(stream_first=False, flow="regex check output")
    )

    def raw() -> Any:
        return raw_model.astream(PROMPT)

    rows: list[tuple[str, dict[str, float]]] = []
    rows.append(
        ("passthrough (no rails)", await paired(raw, lambda: no_rails.astream(PROMPT), reps))
    )
    rows.append(
        (
            "regex C=200 K=50 stream_first",
            await paired(raw, lambda: regex_first.astream(PROMPT), reps),
        )
    )
    rows.append(
        ("regex C=200 K=50 hold-back", await paired(raw, lambda: regex_hold.astream(PROMPT), reps))
    )

    # A LangSmith-style tracer on both sides: every run is built and kept as LangChainTracer
    # does, without posting (no network here).
    rows.append(
        (
            "passthrough + tracer",
            await paired(
                lambda: raw_model.astream(PROMPT, config={"callbacks": [KeepingTracer()]}),
                lambda: no_rails.astream(PROMPT, config={"callbacks": [KeepingTracer()]}),
                reps,
            ),
        )
    )
    rows.append(
        (
            "regex hold-back + tracer",
            await paired(
                lambda: raw_model.astream(PROMPT, config={"callbacks": [KeepingTracer()]}),
                lambda: regex_hold.astream(PROMPT, config={"callbacks": [KeepingTracer()]}),
                reps,
            ),
        )
    )

    print(f"\n{units}-unit stream, {reps} paired repetitions, medians")
    header = ("scenario", "raw ms", "guarded ms", "ratio", "TTFT raw ms", "TTFT guarded ms")
    print(
        f"{header[0]:34} {header[1]:>8} {header[2]:>11} {header[3]:>6} "
        f"{header[4]:>12} {header[5]:>16}"
    )
    for name, r in rows:
        print(
            f"{name:34} {r['raw_ms']:8.2f} {r['guarded_ms']:11.2f} {r['ratio']:6.3f} "
            f"{r['ttft_raw_ms']:12.3f} {r['ttft_guarded_ms']:16.3f}"
        )

    # A slow rail on a model that takes time per unit: checks must overlap generation.
    check_s, unit_s, slow_units = 0.020, 0.002, 300

    @action(name="slow check")
    async def slow_check(text: str) -> bool:
        await asyncio.sleep(check_s)
        return True

    slow_model = FakeStreamingChatModel(chunks=[f"w{i} " for i in range(slow_units)], delay=unit_s)
    slow_raw = slow_model.model_copy(update={"stream_usage": True})
    print(
        f"\nslow rail: {check_s * 1e3:.0f} ms per check, a unit every {unit_s * 1e3:.0f} ms, "
        f"{slow_units} units, C=100 K=20"
    )
    print(f"{'mode':14} {'raw ms':>8} {'guarded ms':>11} {'extra / one check':>18}")
    for stream_first in (True, False):
        slow = Guardrails(
            llm=slow_model,
            config=rails_config(
                stream_first=stream_first, chunk=100, context=20, flow="slow check"
            ),
            actions=[slow_check],
        )
        r = await paired(
            lambda: slow_raw.astream(PROMPT),
            lambda slow=slow: slow.astream(PROMPT),  # type: ignore[misc]
            reps,
        )
        extra = r["extra_ms"] / (check_s * 1e3)  # median of paired differences
        label = "stream_first" if stream_first else "hold-back"
        print(f"{label:14} {r['raw_ms']:8.1f} {r['guarded_ms']:11.1f} {extra:18.2f}")

    print("\n50 concurrent streams (regex C=200 K=50 hold-back)")
    c = await concurrent(raw, lambda: regex_hold.astream(PROMPT), max(3, reps // 3), 50)
    print(f"raw {c['raw_ms']:.1f} ms, guarded {c['guarded_ms']:.1f} ms, ratio {c['ratio']:.3f}")

    print("\nmemory: peak traced bytes of one hold-back stream, guarded minus raw")
    for n in (units, units * 10):
        long_model = FakeStreamingChatModel(chunks=[f"w{i} " for i in range(n)])
        guarded = Guardrails(
            llm=long_model, config=rails_config(stream_first=False, flow="regex check output")
        )
        long_raw = long_model.model_copy(update={"stream_usage": True})
        raw_peak = await peak_memory(lambda m=long_raw: drain(m.astream(PROMPT)))  # type: ignore[misc]
        guarded_peak = await peak_memory(lambda g=guarded: drain(g.astream(PROMPT)))  # type: ignore[misc]
        extra_kb = (guarded_peak - raw_peak) / 1e3
        print(
            f"{n:7} units: raw {raw_peak / 1e6:7.2f} MB, guarded {guarded_peak / 1e6:7.2f} MB, "
            f"extra {extra_kb:8.1f} kB"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--units", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.reps, args.units))
