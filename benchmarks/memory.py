"""Peak memory of one guarded stream as the answer grows (no callback handler listening).

The model makes its units on the fly (nothing of the answer exists before it streams), so the
peak is what the stream itself keeps. Memory should be bounded by the window, not the answer:
the growth per unit between the sizes is what to watch (target: under 100 bytes per unit).

    python benchmarks/memory.py [--sizes 1000 10000 80000]
"""

from __future__ import annotations

import argparse
import asyncio
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from langchain_guardrails import Guardrails, RailsConfig


class LazyModel(BaseChatModel):
    """Streams ``units`` word units made on the fly, usage on the last chunk."""

    units: int = 1000
    stream_usage: bool = False

    @property
    def _llm_type(self) -> str:
        return "lazy"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(f"w{i} " for i in range(self.units))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for i in range(self.units):
            yield ChatGenerationChunk(message=AIMessageChunk(content=f"w{i} "))
        if self.stream_usage:
            usage = UsageMetadata(
                input_tokens=5, output_tokens=self.units, total_tokens=5 + self.units
            )
            yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))


def config(flows: list[str], stream_first: bool) -> RailsConfig:
    return RailsConfig.from_content(
        config={
            "rails": {
                "output": {
                    "flows": flows,
                    "streaming": {
                        "enabled": True,
                        "chunk_size": 200,
                        "context_size": 50,
                        "stream_first": stream_first,
                    },
                },
                "config": {"regex_detection": {"output": {"patterns": [r"\bforbidden\b"]}}},
            }
        }
    )


async def peak(guarded: Guardrails) -> tuple[int, dict[str, int] | None]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    usage = None
    async for chunk in guarded.astream("Tell me a long story."):
        if chunk.usage_metadata is not None:
            usage = dict(chunk.usage_metadata)
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top, usage


async def main(sizes: list[int]) -> None:
    scenarios = {
        "passthrough (no rails)": ([], True),
        "regex hold-back C=200 K=50": (["regex check output"], False),
        "regex stream_first C=200 K=50": (["regex check output"], True),
    }
    print("peak traced memory of one stream (no handler), and growth per unit")
    print(f"{'scenario':32} " + " ".join(f"{n:>10}" for n in sizes) + f" {'B/unit':>8}")
    for name, (flows, stream_first) in scenarios.items():
        peaks = []
        for n in sizes:
            guarded = Guardrails(llm=LazyModel(units=n), config=config(flows, stream_first))
            top, usage = await peak(guarded)
            assert usage is not None and usage["output_tokens"] == n, usage
            peaks.append(top)
        growth = (peaks[-1] - peaks[0]) / (sizes[-1] - sizes[0])
        cells = " ".join(f"{p / 1e3:8.0f}kB" for p in peaks)
        print(f"{name:32} {cells} {growth:8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 80000])
    args = parser.parse_args()
    asyncio.run(main(args.sizes))
