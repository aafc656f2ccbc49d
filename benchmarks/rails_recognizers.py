"""Cost of the recognizer rails per 200-unit window, and the classifier rail under 50 streams.

Part 1 times the actions of ``detect`` / ``mask sensitive data on output`` (every built-in
entity) on 200-unit windows of prose with an occasional email, card or key, against the core
``regex check output`` rail with one pattern on the same windows in the same run (medians of
paired batches). Target: at most 20 us per window on average.

Part 2 (``--classifier``, needs the ``hf`` extra) runs 1 and then 50 concurrent guarded streams
through ``hf classifier check output`` on a tiny offline model, and reports how many times the
pipeline was loaded, how many batched calls served the windows, and the process's peak RSS
before and after the 50 streams (it must not grow with streams).

    python benchmarks/rails_recognizers.py [--reps 30] [--windows 200] [--classifier]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.rails import BUILTIN_RAILS
from langchain_guardrails.rails.recognizers import BUILTIN_ENTITIES

PROSE = (
    "the quarterly report shows that revenue grew in every region while costs stayed flat "
    "and the team expects the new product line to ship before the end of the year according "
    "to plan customers asked for better documentation faster support and clearer pricing on "
    "page 12"
)
WORDS = PROSE.split(" ")
SPECIALS = [
    "jane.doe@example.com",
    "4111 1111 1111 1111",
    "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "+44 20 7946 0958",
    "https://example.com/report?id=7",
    "192.168.0.12",
]


def windows(count: int, units: int = 200, seed: int = 7) -> list[str]:
    """``count`` windows of ``units`` word units; one in four holds one sensitive value."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        words = [rng.choice(WORDS) for _ in range(units)]
        if index % 4 == 0:
            words[rng.randrange(units)] = rng.choice(SPECIALS)
        out.append(" ".join(words) + " ")
    return out


def action_of(flow: str, settings: dict[str, Any]) -> Callable[[str], Any]:
    config = RailsConfig.from_content(config={"rails": {"config": settings}})
    return BUILTIN_RAILS[flow](config, {}).fn  # type: ignore[no-any-return]


def per_window_us(fn: Callable[[str], Any], texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        fn(text)
    return (time.perf_counter() - start) / len(texts) * 1e6


def recognizers(reps: int, count: int) -> None:
    texts = windows(count)
    entities = {"output": {"entities": list(BUILTIN_ENTITIES)}}
    rails = {
        "regex check output (baseline)": action_of(
            "regex check output", {"regex_detection": {"output": {"patterns": [r"\bforbidden\b"]}}}
        ),
        "detect sensitive data on output": action_of(
            "detect sensitive data on output", {"sensitive_data_detection": entities}
        ),
        "mask sensitive data on output": action_of(
            "mask sensitive data on output", {"sensitive_data_detection": entities}
        ),
        "mask sensitive data (EMAIL_ADDRESS, CREDIT_CARD)": action_of(
            "mask sensitive data on output",
            {
                "sensitive_data_detection": {
                    "output": {"entities": ["EMAIL_ADDRESS", "CREDIT_CARD"]}
                }
            },
        ),
    }
    timings: dict[str, list[float]] = {name: [] for name in rails}
    for fn in rails.values():
        per_window_us(fn, texts[:20])  # warm-up
    for _ in range(reps):
        for name, fn in rails.items():  # interleaved: noise hits every rail alike
            timings[name].append(per_window_us(fn, texts))
    baseline = statistics.median(timings["regex check output (baseline)"])
    print(f"recognizer rails: {count} windows of 200 units, {reps} paired batches (medians)")
    print(f"{'rail':<52}{'us/window':>10}{'x baseline':>12}{'target':>10}")
    for name, values in timings.items():
        median = statistics.median(values)
        target = "" if "baseline" in name else ("ok" if median <= 20 else "OVER 20us")
        print(f"{name:<52}{median:>10.2f}{median / baseline:>12.2f}{target:>10}")


def peak_rss_mb() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def tiny_classifier() -> Path:
    """The tests' tiny offline classifier (any text with "!" is toxic), saved to a folder."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from tests.unit_tests.rails.conftest import _make_bang_toxic, _tokenizer

    folder = Path(tempfile.mkdtemp(prefix="rails-bench-"))
    tokenizer = _tokenizer()
    torch.manual_seed(0)
    labels = {"id2label": {0: "safe", 1: "toxic"}, "label2id": {"safe": 0, "toxic": 1}}
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=256,
        pad_token_id=2,
        **labels,
    )
    model = BertForSequenceClassification(config)
    _make_bang_toxic(model, tokenizer.convert_tokens_to_ids("!"))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder.resolve()


def stream_config(flow: str, settings: dict[str, Any]) -> RailsConfig:
    streaming = {"enabled": True, "chunk_size": 20, "context_size": 5, "stream_first": False}
    return RailsConfig.from_content(
        config={"rails": {"output": {"flows": [flow], "streaming": streaming}, "config": settings}}
    )


async def classifier(streams: int) -> None:
    from langchain_guardrails.rails.hf_models import _WORKERS
    from langchain_guardrails.testing import FakeStreamingChatModel

    folder = await asyncio.to_thread(tiny_classifier)
    classified = stream_config(
        "hf classifier check output $classifier=toxicity",
        {"classifiers": {"toxicity": {"model_path": str(folder), "block_labels": ["toxic"]}}},
    )
    baseline = stream_config(
        "regex check output", {"regex_detection": {"output": {"patterns": ["!"]}}}
    )
    chunks = [f"word{i} " for i in range(100)]

    async def one(config: RailsConfig) -> str:
        guarded = Guardrails(llm=FakeStreamingChatModel(chunks=chunks, delay=0.001), config=config)
        return "".join([c.content async for c in guarded.astream("hi")])

    async def many(config: RailsConfig) -> float:
        start = time.perf_counter()
        results = await asyncio.gather(*(one(config) for _ in range(streams)))
        assert all(text == "".join(chunks) for text in results)
        return time.perf_counter() - start

    await one(classified)  # loads the pipeline
    worker = _WORKERS[("text-classification", str(folder), "cpu")]
    rss = [peak_rss_mb()]
    calls = worker.calls
    regex_times, classifier_times = [], []
    for _ in range(3):  # rounds: peak memory must not climb from one round to the next
        regex_times.append(await many(baseline))
        classifier_times.append(await many(classified))
        rss.append(peak_rss_mb())
    windows, batched, largest = 3 * streams * 6, worker.calls - calls, worker.largest_batch
    regex_ms = statistics.median(regex_times) * 1e3
    classifier_ms = statistics.median(classifier_times) * 1e3
    print(f"\nclassifier rail: 3 rounds of {streams} concurrent streams of 100 units each")
    print(f"pipeline loads: {worker.loads}; {windows} windows in {batched} batched calls")
    print(f"largest batch: {largest} pieces")
    print(
        "peak RSS MB after 1 stream, then after each round: " + ", ".join(f"{m:.1f}" for m in rss)
    )
    print(f"wall time of {streams} streams: {classifier_ms:.0f} ms with the classifier rail,")
    print(f"{regex_ms:.0f} ms with a regex rail (x{classifier_ms / regex_ms:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--classifier", action="store_true")
    parser.add_argument("--streams", type=int, default=50)
    args = parser.parse_args()
    recognizers(args.reps, args.windows)
    if args.classifier:
        asyncio.run(classifier(args.streams))


if __name__ == "__main__":
    main()
