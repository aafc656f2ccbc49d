"""Overhead of guarded streaming over a local transformers pipeline, measured in the same process.

The baseline is the pipeline's own streamed generation: ``pipeline(..., streamer=
TextIteratorStreamer(...))`` in a thread, its text read in the main thread. Each repetition runs
the baseline and every scenario back to back (order rotated), and the report gives the median of
the per-repetition ratios, so machine noise hits both sides alike. The model is a tiny random
GPT-2 (2 layers, width 32) with a character tokenizer; every run generates exactly ``--tokens``
tokens (greedy, ``min_new_tokens`` = ``max_new_tokens``).

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
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models
from transformers import (
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


def baseline(pipe: Any, gen: dict[str, Any]) -> str:
    """The pipeline's own streamed generation (transformers' documented pattern)."""
    streamer = TextIteratorStreamer(pipe.tokenizer, skip_prompt=True, skip_special_tokens=True)
    thread = threading.Thread(target=pipe, args=(PROMPT,), kwargs={**gen, "streamer": streamer})
    thread.start()
    text = "".join(streamer)
    thread.join()
    return text


def sync_stream(runnable: Any) -> Callable[[], str]:
    return lambda: "".join(str(c.content) for c in runnable.stream(PROMPT))


def async_stream(runnable: Any) -> Callable[[], str]:
    async def run() -> str:
        return "".join([str(c.content) async for c in runnable.astream(PROMPT)])

    return lambda: asyncio.run(run())


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
    scenarios: dict[str, Callable[[], str]] = {
        "model astream (no Guardrails)": async_stream(llm),
        "Guardrails astream, no rails": async_stream(Guardrails(llm=llm, config=rails(stream_first=None))),
        "Guardrails astream, rail stream_first": async_stream(
            Guardrails(llm=llm, config=rails(stream_first=True))
        ),
        "Guardrails astream, rail hold-back": async_stream(
            Guardrails(llm=llm, config=rails(stream_first=False))
        ),
        "Guardrails stream (sync), rail stream_first": sync_stream(
            Guardrails(llm=llm, config=rails(stream_first=True))
        ),
    }  # fmt: skip

    expected = baseline(pipe, gen)
    for name, run in scenarios.items():  # warm up, and check every path streams the same text
        text = run()
        if text != expected:
            raise SystemExit(f"{name}: text differs from the pipeline's own streamed text")

    base_times: list[float] = []
    ratios: dict[str, list[float]] = {name: [] for name in scenarios}
    times: dict[str, list[float]] = {name: [] for name in scenarios}
    names = list(scenarios)
    for rep in range(args.reps):
        base, _ = timed(lambda: baseline(pipe, gen))
        base_times.append(base)
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            seconds, _ = timed(scenarios[name])
            times[name].append(seconds)
            ratios[name].append(seconds / base)

    print(
        f"tiny GPT-2, {args.tokens} tokens per run, {args.reps} reps, "
        f"torch threads {args.threads}"
    )
    print(f"{'pipeline own streamed generation (baseline)':46s} {statistics.median(base_times) * 1e3:8.1f} ms")
    for name in names:
        median_ms = statistics.median(times[name]) * 1e3
        print(f"{name:46s} {median_ms:8.1f} ms   ratio {statistics.median(ratios[name]):.3f}")


if __name__ == "__main__":
    main()
