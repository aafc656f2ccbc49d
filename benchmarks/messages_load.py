"""Load benchmark of ``POST /v1/messages`` (Anthropic) against the chat route, in one run.

One server process (the fast path, no rails) in front of the fake OpenAI-compatible upstream of
``server_load.py`` (a second process streaming ``--units`` chunks every ``--delay`` s). Each
round fires ``--concurrency`` streams at the chat route, then as many at the Anthropic route
(interleaved rounds, so drift hits both alike), with the same light raw-socket client. Every
Anthropic stream is checked: ``event:`` lines, exact text, ``stop_reason: "end_turn"`` and
``message_stop`` last. Reported: per-stream total p50/p99, ttft p50 and the ratio of the
Anthropic route's total p50 to the chat route's (issue 23 target: <= 1.15).

    python benchmarks/messages_load.py                  # 200 streams x 3 rounds
    python benchmarks/messages_load.py --concurrency 50 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).parent))

from server_load import (  # a script beside this one
    UPSTREAM_CONFIG,
    Phase,
    Result,
    _Answer,
    burst,
    free_port,
    percentile,
    start_server,
    start_upstream,
    write_configs,
)

FIRST_TEXT = re.compile(rb'"text_delta","text":"[^"]')


async def one_message_stream(url: str, config: str, expected: str) -> Result:
    """One streamed ``/v1/messages`` request over a fresh connection (raw socket; parsed after)."""
    import httptools

    parts = urlsplit(url)
    body = json.dumps({
        "model": config, "max_tokens": 1024, "stream": True,
        "messages": [{"role": "user", "content": "Tell me the words."}],
    }).encode()  # fmt: skip
    request = (
        f"POST /v1/messages HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nanthropic-version: 2023-06-01\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
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
                    if ttft is None and FIRST_TEXT.search(data):
                        ttft = time.perf_counter() - start
                    received.append(data)
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        return Result(status=0, total=time.perf_counter() - start, problem=repr(exc))
    total = time.perf_counter() - start
    answer = _Answer()
    answer.parser = httptools.HttpResponseParser(answer)
    answer.parser.feed_data(b"".join(received))
    result = Result(status=answer.status, ttft=ttft, total=total)
    if answer.status == 200:
        result.problem = check_events(answer.body.decode(), expected)
        result.ok = not result.problem
    return result


def check_events(raw: str, expected: str) -> str:
    events = []
    for block in raw.split("\n\n"):
        if not block or block.startswith(":"):
            continue
        name, data = block.split("\n")
        event = json.loads(data.removeprefix("data: "))
        if name != f"event: {event['type']}":
            return f"event line {name!r} does not match {event['type']!r}"
        events.append(event)
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    if text != expected:
        return f"wrong text: {text[:60]!r}..."
    if events[-1]["type"] != "message_stop":
        return "message_stop is not last"
    if events[-2]["delta"]["stop_reason"] != "end_turn":
        return f"stop_reason {events[-2]['delta']['stop_reason']!r}"
    return ""


async def message_burst(url: str, config: str, n: int, expected: str) -> Phase:
    start = time.perf_counter()
    results = await asyncio.gather(*(one_message_stream(url, config, expected) for _ in range(n)))
    return Phase(config, list(results), time.perf_counter() - start)


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
        server = start_server(configs, port, max(256, args.concurrency + 16))
        url = f"http://127.0.0.1:{port}"
        runs: dict[str, list[Phase]] = {"chat": [], "messages": []}
        try:
            asyncio.run(burst(url, "upstream", 5, expected))  # warm up
            asyncio.run(message_burst(url, "upstream", 5, expected))
            for _ in range(args.rounds):
                n = args.concurrency
                runs["chat"].append(asyncio.run(burst(url, "upstream", n, expected)))
                runs["messages"].append(asyncio.run(message_burst(url, "upstream", n, expected)))
        finally:
            server.terminate()
            server.wait(timeout=30)
            upstream.terminate()
            upstream.wait(timeout=30)
    print(
        f"{args.concurrency} concurrent streams x {args.rounds} rounds, fast path, no rails "
        f"({args.units} chunks every {args.delay * 1000:g} ms):"
    )
    p50: dict[str, float] = {}
    for route, phases in runs.items():
        results = [r for p in phases for r in p.results]
        totals = [r.total for r in results if r.status == 200]
        ttfts = [t for p in phases for t in p.ttfts]
        p50[route] = percentile(totals, 50)
        print(
            f"  {route:<9} ok {sum(r.ok for r in results):>4}/{len(results):<4} "
            f"ttft p50 {1000 * percentile(ttfts, 50):7.1f} ms  "
            f"total p50 {1000 * p50[route]:6.0f} ms  p99 {1000 * percentile(totals, 99):6.0f} ms"
        )
    print(f"  /v1/messages total p50 = x{p50['messages'] / p50['chat']:.2f} the chat route's")
    problems = sorted(
        {r.problem for ps in runs.values() for p in ps for r in p.results if r.problem}
    )
    for problem in problems[:5]:
        print("problem:", problem)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
