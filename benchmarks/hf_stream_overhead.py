"""Overhead of guarded streaming over a local transformers pipeline, measured in the same process.

The baselines are the pipeline's own streamed generation, run as transformers documents it: the
pipeline in a thread with a ``TextIteratorStreamer`` read by the main thread (sync), or with
transformers' ``AsyncTextIteratorStreamer`` read by ``async for`` (async). Every scenario is
compared with the baseline of its kind ("vs pipeline") and guarded runs also with the unguarded
``HuggingFacePipelineCompatible`` of their kind ("vs model"). Each repetition runs every
scenario once (order rotated) and the report gives the median of the per-repetition ratios, so
machine noise hits both sides alike. The model is a tiny random GPT-2 (2 layers, width 32) with a
character tokenizer, well under a millisecond per token, so per-token overhead shows as much as
it ever can; every run generates exactly ``--tokens`` tokens (greedy, ``min_new_tokens`` =
``max_new_tokens``) and every scenario must stream the same text.

    python benchmarks/hf_stream_overhead.py [--reps 15] [--tokens 200] [--threads 1]

Target (issue 5): streaming through ``Guardrails`` adds <= 5 % wall time (ratio <= 1.05).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models
from transformers import (
    AsyncTextIteratorStreamer,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    TextIteratorStreamer,
    pipeline,
)

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.llm.providers.huggingface import HuggingFacePipelineCompatible

CHARS = " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?:;'\"-<>/\n()|"
PROMPT = "Tell me a story:"


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[], str]
    baseline: str | None = None
    """The pipeline's own streaming of the same kind (sync/async) it is compared with."""
    model: str | None = None
    """The unguarded model run of the same kind it is compared with."""


def tiny_pipeline() -> Any:
    vocab = {t: i for i, t in enumerate(["<unk>", "<eos>", "<pad>", *CHARS])}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>", pad_token="<pad>"
    )
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocab), n_positions=1024, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=1, eos_token_id=1, pad_token_id=2,
    )  # fmt: skip
    model = GPT2LMHeadModel(config).eval()  # type: ignore[no-untyped-call]
    return pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")


def rails(*, stream_first: bool | None) -> RailsConfig:
    if stream_first is None:
        return RailsConfig.from_content(config={})
    return RailsConfig.from_content(
        config={
            "rails": {
                "output": {
                    "flows": ["regex check output"],
                    "streaming": {
                        "enabled": True,
                        "chunk_size": 20,
                        "context_size": 5,
                        "stream_first": stream_first,
                    },
                },
                "config": {"regex_detection": {"output": {"patterns": [r"\bforbidden\b"]}}},
            }
        }
    )


def pipeline_sync(pipe: Any, gen: dict[str, Any]) -> Callable[[], str]:
    """The pipeline's own streamed generation: transformers' ``TextIteratorStreamer``."""

    def run() -> str:
        streamer = TextIteratorStreamer(pipe.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = {**gen, "streamer": streamer}
        thread = threading.Thread(target=pipe, args=(PROMPT,), kwargs=kwargs)
        thread.start()
        text = "".join(streamer)
        thread.join()
        return text

    return run


def pipeline_async(pipe: Any, gen: dict[str, Any], runner: asyncio.Runner) -> Callable[[], str]:
    """The same with transformers' ``AsyncTextIteratorStreamer``, read by ``async for``."""

    async def run() -> str:
        streamer = AsyncTextIteratorStreamer(
            pipe.tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        kwargs = {**gen, "streamer": streamer}
        thread = threading.Thread(target=pipe, args=(PROMPT,), kwargs=kwargs)
        thread.start()
        text = "".join([piece async for piece in streamer])
        await asyncio.to_thread(thread.join)
        return text

    return lambda: runner.run(run())


def sync_stream(runnable: Any) -> Callable[[], str]:
    return lambda: "".join(str(c.content) for c in runnable.stream(PROMPT))


def async_stream(runnable: Any, runner: asyncio.Runner) -> Callable[[], str]:
    """An ``astream`` run on ``runner``'s loop: one long-lived loop, as in a server."""

    async def run() -> str:
        return "".join([str(c.content) async for c in runnable.astream(PROMPT)])

    return lambda: runner.run(run())


def timed(fn: Callable[[], str]) -> tuple[float, str]:
    start = time.perf_counter()
    text = fn()
    return time.perf_counter() - start, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    pipe = tiny_pipeline()
    gen = {"max_new_tokens": args.tokens, "min_new_tokens": args.tokens, "do_sample": False}
    llm = HuggingFacePipelineCompatible(pipeline=pipe, pipeline_kwargs=gen)
    runner = asyncio.Runner()
    no_rails = Guardrails(llm=llm, config=rails(stream_first=None))
    stream_first = Guardrails(llm=llm, config=rails(stream_first=True))
    hold_back = Guardrails(llm=llm, config=rails(stream_first=False))
    sync_base, async_base = "pipeline stream (sync)", "pipeline stream (async)"
    sync_model, async_model = "model stream (sync)", "model astream"
    sync_pair, async_pair = (sync_base, sync_model), (async_base, async_model)
    scenarios = [
        Scenario(sync_base, pipeline_sync(pipe, gen)),
        Scenario(async_base, pipeline_async(pipe, gen, runner)),
        Scenario(sync_model, sync_stream(llm), sync_base),
        Scenario(async_model, async_stream(llm, runner), async_base),
        Scenario("guarded astream, no rails", async_stream(no_rails, runner), *async_pair),
        Scenario("guarded astream, stream_first", async_stream(stream_first, runner), *async_pair),
        Scenario("guarded astream, hold-back", async_stream(hold_back, runner), *async_pair),
        Scenario("guarded stream (sync), stream_first", sync_stream(stream_first), *sync_pair),
    ]  # fmt: skip

    expected = scenarios[0].run()
    for scenario in scenarios:  # warm up, and check every path streams the same text
        if scenario.run() != expected:
            raise SystemExit(f"{scenario.name}: text differs from the pipeline's own stream")

    times: dict[str, list[float]] = {s.name: [] for s in scenarios}
    for rep in range(args.reps):
        for scenario in scenarios[rep % len(scenarios) :] + scenarios[: rep % len(scenarios)]:
            start = time.perf_counter()
            scenario.run()
            times[scenario.name].append(time.perf_counter() - start)
    runner.close()

    def ratio(name: str, against: str | None) -> str:
        if against is None:
            return ""
        pairs = zip(times[name], times[against], strict=True)
        return f"{statistics.median(a / b for a, b in pairs):.3f}"

    print(
        f"tiny GPT-2 (2 layers, width 32), {args.tokens} tokens per run, {args.reps} reps, "
        f"torch threads {args.threads}; ratios are medians of per-rep ratios"
    )
    print(f"{'scenario':38s} {'median':>9s}  {'vs pipeline':>11s}  {'vs model':>8s}")
    for s in scenarios:
        median = statistics.median(times[s.name]) * 1e3
        vs_pipeline, vs_model = ratio(s.name, s.baseline), ratio(s.name, s.model)
        print(f"{s.name:38s} {median:6.1f} ms  {vs_pipeline:>11s}  {vs_model:>8s}")


if __name__ == "__main__":
    main()
