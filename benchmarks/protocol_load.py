"""Load benchmark of the protocol routes (``/v1/responses``, ``/v1/messages``) against the chat
route, same server, same run.

Starts the fake OpenAI-compatible upstream and one ``langchain-guardrails server`` process (fast
path, no rails) from :mod:`server_load`, then alternates bursts of ``--concurrency`` streams on
each route (interleaved rounds, so every route sees the same machine). Every stream is read by
:func:`server_load.raw_stream` and checked afterwards (exact text; the protocol's last events).
Reported: per-stream total p50/p99, time to first text p50, and each route's total p50 against
the chat route's (issue 23's target: within 1.15x).

    python benchmarks/protocol_load.py                  # 200 streams x 3 rounds
    python benchmarks/protocol_load.py --concurrency 50 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from server_load import (
    UPSTREAM_CONFIG,
    Phase,
    Result,
    free_port,
    one_stream,
    percentile,
    raw_stream,
    start_server,
    start_upstream,
    write_configs,
)

PROMPT = "Tell me the words."


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of an SSE body (``event:`` lines and comments skipped)."""
    lines = raw.decode().split("\n")
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]


def check_responses(events: list[dict[str, Any]], expected: str) -> str:
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    last = events[-1] if events else {}
    if text != expected:
        return f"wrong text: {text[:60]!r}..."
    if last.get("type") != "response.completed" or last["response"]["usage"]["output_tokens"] < 1:
        return f"last event {last.get('type')!r}, not response.completed with usage"
    return ""


def check_messages(events: list[dict[str, Any]], expected: str) -> str:
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    text = "".join(delta.get("text", "") for delta in deltas)
    if text != expected:
        return f"wrong text: {text[:60]!r}..."
    if len(events) < 2 or events[-1]["type"] != "message_stop":
        return "message_stop is not last"
    if events[-2]["delta"]["stop_reason"] != "end_turn":
        return f"stop_reason {events[-2]['delta']['stop_reason']!r}"
    return ""


ROUTES: dict[str, tuple[str, dict[str, Any], str, re.Pattern[bytes], Any]] = {
    # route: (path, request body, extra headers, first-text marker, checker)
    "responses": (
        "/v1/responses",
        {"model": "upstream", "input": PROMPT, "stream": True},
        "",
        re.compile(rb'"response\.output_text\.delta"'),
        check_responses,
    ),
    "messages": (
        "/v1/messages",
        {
            "model": "upstream",
            "max_tokens": 1024,
            "stream": True,
            "messages": [{"role": "user", "content": PROMPT}],
        },
        "anthropic-version: 2023-06-01\r\n",
        re.compile(rb'"text_delta", ?"text": ?"[^"]'),
        check_messages,
    ),
}


async def one_protocol_stream(url: str, route: str, expected: str) -> Result:
    path, body, headers, first, check = ROUTES[route]
    result, raw = await raw_stream(url, path, json.dumps(body).encode(), first, headers)
    if result.status == 200:
        result.problem = check(sse_events(raw), expected)
        result.ok = not result.problem
    return result


async def burst(url: str, route: str, n: int, expected: str) -> Phase:
    one: Callable[[], Awaitable[Result]]
    if route == "chat":
        one = lambda: one_stream(url, "upstream", expected)  # noqa: E731
    else:
        one = lambda: one_protocol_stream(url, route, expected)  # noqa: E731
    start = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(n)))
    return Phase(route, list(results), time.perf_counter() - start)


def measure_routes(
    configs: Path, routes: list[str], concurrency: int, rounds: int, expected: str
) -> bool:
    """Interleaved bursts of ``concurrency`` streams on the chat route and each of ``routes``
    through one server process (fast path, no rails) in front of the ``upstream`` config of
    ``configs``; prints the table and the first problems seen, and returns whether any stream
    was wrong. Also used by ``server_load.py --routes``."""
    port = free_port()
    server = start_server(configs, port, max(256, concurrency + 56))
    url = f"http://127.0.0.1:{port}"
    runs: dict[str, list[Phase]] = {"chat": []}
    runs.update({route: [] for route in routes})
    try:
        for route in runs:
            asyncio.run(burst(url, route, 5, expected))  # warm up
        for _ in range(rounds):
            for route, phases in runs.items():
                phases.append(asyncio.run(burst(url, route, concurrency, expected)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"  {'route':<10} {'ok':>9} {'ttft p50':>9} {'total p50':>10} {'total p99':>10}")
    p50: dict[str, float] = {}
    problems: set[str] = set()
    for route, phases in runs.items():
        results = [r for p in phases for r in p.results]
        totals = [r.total for r in results if r.status == 200]
        ttfts = [t for p in phases for t in p.ttfts]
        p50[route] = percentile(totals, 50)
        print(
            f"  {route:<10} {sum(r.ok for r in results):>4}/{len(results):<4} "
            f"{1000 * percentile(ttfts, 50):>7.1f}ms {1000 * p50[route]:>8.0f}ms "
            f"{1000 * percentile(totals, 99):>8.0f}ms"
        )
        problems |= {f"{route}: {r.problem}" for r in results if r.problem}
    for route in routes:
        ratio = p50[route] / p50["chat"]
        print(f"  {route} / chat total p50: x{ratio:.2f} (target <= 1.15)")
    for problem in sorted(problems)[:5]:
        print("problem:", problem)
    return bool(problems)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--units", type=int, default=40, help="chunks per answer")
    parser.add_argument("--delay", type=float, default=0.01, help="seconds between chunks")
    parser.add_argument(
        "--routes", default="responses,messages", help="protocol routes measured beside chat"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        configs = Path(tmp)
        expected = write_configs(configs, args.units, args.delay)
        upstream_port = free_port()
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        (configs / "upstream").mkdir()
        (configs / "upstream" / "config.yml").write_text(UPSTREAM_CONFIG.format(url=upstream_url))
        upstream = start_upstream(upstream_port, args.units, args.delay)
        print(
            f"fast path, no rails, {args.concurrency} concurrent streams of {args.units} chunks "
            f"every {args.delay * 1000:g} ms, {args.rounds} interleaved rounds:"
        )
        try:
            wrong = measure_routes(
                configs, args.routes.split(","), args.concurrency, args.rounds, expected
            )
        finally:
            upstream.terminate()
            upstream.wait(timeout=30)
    if wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
