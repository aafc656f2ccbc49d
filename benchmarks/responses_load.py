"""Load benchmark of ``POST /v1/responses`` against the chat route, same server, same run.

Starts the fake OpenAI-compatible upstream and one ``langchain-guardrails server`` process (fast
path, no rails) from :mod:`server_load`, then alternates bursts of ``--concurrency`` streams on
``/v1/chat/completions`` and on ``/v1/responses`` (interleaved rounds, so both see the same
machine). Every stream is checked (exact text; ``response.completed`` with usage last).
Reported: per-stream total p50/p99, time to first text p50, and the Responses/chat ratio of the
total p50 (issue 23's target: within 1.15x).

    python benchmarks/responses_load.py                  # 200 streams x 3 rounds
    python benchmarks/responses_load.py --concurrency 50 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import server_load
from server_load import (
    UPSTREAM_CONFIG,
    Phase,
    Result,
    free_port,
    percentile,
    start_server,
    start_upstream,
    write_configs,
)

FIRST_TEXT = b'"response.output_text.delta"'


async def one_response(url: str, config: str, expected: str) -> Result:
    """One streamed response over a fresh connection (raw socket, parsed after the end, as
    :func:`server_load.one_stream` does for the chat route)."""
    import httptools

    parts = urlsplit(url)
    body = json.dumps({"model": config, "input": "Tell me the words.", "stream": True}).encode()
    request = (
        f"POST /v1/responses HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    start = time.perf_counter()
    ttft: float | None = None
    received: list[bytes] = []
    try:
        async with asyncio.timeout(120):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            try:
                writer.write(request)
                while data := await reader.read(65536):
                    if ttft is None and FIRST_TEXT in data:
                        ttft = time.perf_counter() - start
                    received.append(data)
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        return Result(status=0, total=time.perf_counter() - start, problem=repr(exc))
    total = time.perf_counter() - start
    answer = server_load._Answer()
    answer.parser = httptools.HttpResponseParser(answer)
    answer.parser.feed_data(b"".join(received))
    result = Result(status=answer.status, ttft=ttft, total=total)
    if answer.status != 200:
        return result
    lines = answer.body.decode().split("\n")
    events = [json.loads(line[6:]) for line in lines if line.startswith("data:")]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    last = events[-1] if events else {}
    if text != expected:
        result.problem = f"wrong text: {text[:60]!r}..."
    elif last.get("type") != "response.completed" or last["response"]["usage"]["output_tokens"] < 1:
        result.problem = f"last event {last.get('type')!r}, not response.completed with usage"
    result.ok = not result.problem
    return result


async def burst(url: str, route: str, n: int, expected: str) -> Phase:
    one = one_response if route == "responses" else server_load.one_stream
    start = time.perf_counter()
    results = await asyncio.gather(*(one(url, "upstream", expected) for _ in range(n)))
    return Phase(route, list(results), time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--units", type=int, default=40, help="chunks per answer")
    parser.add_argument("--delay", type=float, default=0.01, help="seconds between chunks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        configs = Path(tmp)
        expected = write_configs(configs, args.units, args.delay)
        upstream_port = free_port()
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        (configs / "upstream").mkdir()
        (configs / "upstream" / "config.yml").write_text(UPSTREAM_CONFIG.format(url=upstream_url))
        upstream = start_upstream(upstream_port, args.units, args.delay)
        port = free_port()
        server = start_server(configs, port, args.concurrency + 56)
        url = f"http://127.0.0.1:{port}"
        runs: dict[str, list[Phase]] = {"chat": [], "responses": []}
        try:
            for route in runs:
                asyncio.run(burst(url, route, 5, expected))  # warm up
            for _ in range(args.rounds):
                for route, phases in runs.items():
                    phases.append(asyncio.run(burst(url, route, args.concurrency, expected)))
        finally:
            server.terminate()
            server.wait(timeout=30)
            upstream.terminate()
            upstream.wait(timeout=30)
    print(
        f"fast path, no rails, {args.concurrency} concurrent streams of {args.units} chunks "
        f"every {args.delay * 1000:g} ms, {args.rounds} interleaved rounds:"
    )
    print(f"  {'route':<10} {'ok':>9} {'ttft p50':>9} {'total p50':>10} {'total p99':>10}")
    p50: dict[str, float] = {}
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
        for problem in sorted({r.problem for r in results if r.problem})[:3]:
            print("  problem:", problem)
    print(f"  responses / chat total p50: x{p50['responses'] / p50['chat']:.2f} (target <= 1.15)")


if __name__ == "__main__":
    main()
