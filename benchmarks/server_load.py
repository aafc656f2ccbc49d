"""Load benchmark: N concurrent streaming chat completions against one server process.

Starts ``langchain-guardrails server`` (one uvicorn process) on 127.0.0.1 with a scripted
fake model, then fires ``--concurrency`` streaming requests at once, several rounds, for three
configs that share the model: no rails (the baseline), output rails in ``stream_first`` mode,
and output rails in hold-back mode. Every stream is checked (exact text, ``finish_reason``,
usage chunk, ``[DONE]`` last). Reported: status codes, time to first token (first content
delta) p50/p99, total time p50/p99, throughput, and ratios against the baseline of the same
run (medians). A last phase sends more requests than ``--max-concurrency`` to show the 503s.

Then the same kind of burst against a fake OpenAI-compatible upstream on 127.0.0.1 (a second
process that streams the same answer at the same pace), at ``--concurrency`` and at 20 streams:
directly, through our server's fast path, through the LangChain path (``--no-fast-path``:
``ChatOpenAI``), and with ``--workers N`` server processes, all with no rails
(``engine: openai`` with ``base_url`` set to the upstream), in the same run.

The measuring client shares the machine's two CPUs with the processes it measures. By default
it reads raw sockets and parses everything after each stream ended (``--client raw``), so it
takes little CPU; ``--client httpx`` is an SDK-like client that parses each event as it
arrives (the issue's first measurement), which takes about as much CPU as the server itself.

    python benchmarks/server_load.py                 # 200 streams x 3 rounds
    python benchmarks/server_load.py --concurrency 50 --rounds 1
    python benchmarks/server_load.py --upstream-only --rounds 2 --workers 2
    python benchmarks/server_load.py --upstream-only --routes responses,messages
    python benchmarks/server_load.py --cpu 500       # server CPU per request and per chunk
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
]

CONFIG = """\
models:
  - type: main
    engine: scripted
    parameters:
      delay: {delay}
      default_reply: "{reply}"
{rails}"""

RAILS = """\
rails:
  input:
    flows: [regex check input]
  output:
    flows: [regex check output]
    streaming: {{enabled: true, chunk_size: 10, context_size: 3, stream_first: {stream_first}}}
  config:
    regex_detection:
      input: {{patterns: ["ignore previous instructions"]}}
      output: {{patterns: ["forbidden\\\\s+phrase"]}}
"""


@dataclass
class Result:
    status: int
    ttft: float | None = None
    total: float = 0.0
    ok: bool = False
    problem: str = ""


@dataclass
class Phase:
    config: str
    results: list[Result] = field(default_factory=list)
    wall: float = 0.0

    @property
    def ttfts(self) -> list[float]:
        return [r.ttft for r in self.results if r.ttft is not None]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def write_configs(root: Path, units: int, delay: float) -> str:
    reply = " ".join(WORDS[i % len(WORDS)] for i in range(units)) + "."
    for name, rails in [
        ("passthrough", ""),
        ("stream_first", RAILS.format(stream_first="true")),
        ("holdback", RAILS.format(stream_first="false")),
    ]:
        folder = root / name
        folder.mkdir()
        (folder / "config.yml").write_text(CONFIG.format(delay=delay, reply=reply, rails=rails))
    return reply


UPSTREAM_CONFIG = """\
models:
  - type: main
    engine: openai
    model: fake-upstream
    parameters: {{base_url: "{url}/v1", api_key: unused, max_retries: 0, timeout: 120}}
"""


def upstream_app(reply: str, delay: float) -> Any:
    """A fake OpenAI-compatible chat-completions server that streams ``reply`` word by word."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    units = [w + " " for w in reply.split(" ")[:-1]] + [reply.split(" ")[-1]]

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        body = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                "model": "fake-upstream", "choices": choices, **extra}  # fmt: skip
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    async def completions(request: Request) -> Response:
        body = await request.json()
        usage = (body.get("stream_options") or {}).get("include_usage")

        async def events() -> Any:
            yield chunk({"role": "assistant", "content": ""})
            for unit in units:
                await asyncio.sleep(delay)
                yield chunk({"content": unit})
            yield chunk({}, "stop")
            if usage:
                counts = {"prompt_tokens": 4, "completion_tokens": len(units),
                          "total_tokens": 4 + len(units)}  # fmt: skip
                yield chunk(None, usage=counts)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/health", health),
        ]
    )


def start_upstream(port: int, units: int, delay: float) -> subprocess.Popen[str]:
    command = [sys.executable, __file__, "--serve-upstream", str(port), "--units", str(units),
               "--delay", str(delay)]  # fmt: skip
    log = open(Path(tempfile.gettempdir()) / f"upstream-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(command, stderr=log, text=True)
    wait_healthy(process, port)
    return process


def wait_healthy(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}; see its log")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start within 60 s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


FIRST_CONTENT = re.compile(rb'"content": ?"[^"]')
"""A content delta with text (the role chunk's empty content does not match)."""


class _Answer:
    """``httptools`` callbacks: the status and the (de-chunked) body of one response."""

    def __init__(self) -> None:
        self.status = 0
        self.body = bytearray()
        self.parser: Any = None

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.body += body


async def raw_stream(
    url: str, path: str, body: bytes, first: re.Pattern[bytes], headers: str = ""
) -> tuple[Result, bytes]:
    """One streamed request over a fresh connection, read until the server closes it: its
    timing and the response body (``b""`` unless the status is 200).

    The measuring client shares the machine's CPUs with the servers it measures, so it does as
    little as it can while the stream runs: raw socket reads, and a bytes search (``first``)
    that stamps the first content delta. Parsing HTTP and SSE and checking every event happen
    afterwards. (An ``httpx`` client took as much CPU as the server under test: 2 s per
    200-stream burst.) ``headers``: extra header lines, each ending in ``\\r\\n``.
    """
    import httptools

    parts = urlsplit(url)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\n{headers}Connection: close\r\n"
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
                    if ttft is None and first.search(data):
                        ttft = time.perf_counter() - start
                    received.append(data)
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        return Result(status=0, total=time.perf_counter() - start, problem=repr(exc)), b""
    total = time.perf_counter() - start
    answer = _Answer()
    answer.parser = httptools.HttpResponseParser(answer)
    try:
        answer.parser.feed_data(b"".join(received))
    except httptools.HttpParserError as exc:
        return Result(status=answer.status, total=total, problem=f"bad HTTP: {exc}"), b""
    result = Result(status=answer.status, ttft=ttft, total=total)
    return result, answer.body if answer.status == 200 else b""


async def one_stream(url: str, config: str, expected: str) -> Result:
    """One streamed chat completion (:func:`raw_stream`), its events checked afterwards."""
    body = json.dumps({
        "model": config,
        "messages": [{"role": "user", "content": "Tell me the words."}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }).encode()  # fmt: skip
    result, raw = await raw_stream(url, "/v1/chat/completions", body, FIRST_CONTENT)
    if result.status != 200:
        return result
    events: list[str] = []
    text: list[str] = []
    for line in raw.decode().split("\n"):
        if not line:
            continue
        if not line.startswith("data: "):
            result.problem = f"not an SSE data line: {line!r}"
            return result
        data = line[6:]
        events.append(data)
        if data != "[DONE]":
            for choice in json.loads(data).get("choices") or []:
                text.append(choice["delta"].get("content") or "")
    result.problem = check_stream(events, "".join(text), expected)
    result.ok = not result.problem
    return result


async def one_stream_httpx(client: httpx.AsyncClient, config: str, expected: str) -> Result:
    """One streamed completion through a shared ``httpx`` client (``--client httpx``): an SDK-like
    client that parses each event as it arrives, as the issue's first measurement did."""
    body: dict[str, Any] = {
        "model": config,
        "messages": [{"role": "user", "content": "Tell me the words."}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            result = Result(status=response.status_code)
            if response.status_code != 200:
                await response.aread()
                result.total = time.perf_counter() - start
                return result
            events: list[str] = []
            text: list[str] = []
            async for line in response.aiter_lines():
                if not line:
                    continue
                if not line.startswith("data: "):
                    result.problem = f"not an SSE data line: {line!r}"
                    return result
                data = line[6:]
                events.append(data)
                if data == "[DONE]":
                    continue
                chunk = json.loads(data)
                for choice in chunk.get("choices") or []:
                    piece = choice["delta"].get("content")
                    if piece:
                        if result.ttft is None:
                            result.ttft = time.perf_counter() - start
                        text.append(piece)
            result.total = time.perf_counter() - start
    except httpx.HTTPError as exc:
        return Result(status=0, total=time.perf_counter() - start, problem=repr(exc))
    result.problem = check_stream(events, "".join(text), expected)
    result.ok = not result.problem
    return result


def check_stream(events: list[str], text: str, expected: str) -> str:
    if not events or events[-1] != "[DONE]" or events.count("[DONE]") != 1:
        return "[DONE] is not last (or not once)"
    errors = [json.loads(e)["error"] for e in events[:-1] if '"error"' in e]
    if errors:
        return f"error event: {errors[0].get('code')}: {errors[0].get('message')}"
    if text != expected:
        return f"wrong text: {text[:60]!r}..."
    chunks = [json.loads(e) for e in events[:-1]]
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    if finish[-1] != "stop" or any(finish[:-1]):
        return f"bad finish_reason sequence ending {finish[-3:]}"
    usage = chunks[-1].get("usage")
    if chunks[-1]["choices"] or not usage or usage["completion_tokens"] <= 0:
        return "no usage chunk before [DONE]"
    return ""


CLIENT = "raw"
"""The measuring client: ``raw`` sockets (the default) or a shared ``httpx`` client."""


async def burst(url: str, config: str, n: int, expected: str) -> Phase:
    if CLIENT == "httpx":
        limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
        timeout = httpx.Timeout(120, connect=30)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
            start = time.perf_counter()
            streams = [one_stream_httpx(client, config, expected) for _ in range(n)]
            results = await asyncio.gather(*streams)
            return Phase(config, list(results), time.perf_counter() - start)
    start = time.perf_counter()
    results = await asyncio.gather(*(one_stream(url, config, expected) for _ in range(n)))
    return Phase(config, list(results), time.perf_counter() - start)


def start_server(
    configs: Path, port: int, max_concurrency: int, *extra: str
) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "langchain_guardrails", "server", "--config", str(configs),
        "--port", str(port), "--max-concurrency", str(max_concurrency), "--log-level", "warning",
        *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "LANGCHAIN_GUARDRAILS_API_KEY"}
    # A file, not a pipe nobody reads: the access log (a line per request) would fill a pipe
    # and block the server.
    log = open(configs / f"server-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(command, stderr=log, text=True, env=env)
    wait_healthy(process, port)
    return process


def summarize(phases: list[Phase], units: int) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for config in ("passthrough", "stream_first", "holdback"):
        runs = [p for p in phases if p.config == config]
        results = [r for p in runs for r in p.results]
        ttfts = [t for p in runs for t in p.ttfts]
        totals = [r.total for r in results if r.status == 200]
        table[config] = {
            "requests": len(results),
            "complete_and_correct": sum(r.ok for r in results),
            "5xx": sum(500 <= r.status < 600 for r in results),
            "other_failures": sum(r.status != 200 and not 500 <= r.status < 600 for r in results),
            "ttft_p50_ms": 1000 * percentile(ttfts, 50),
            "ttft_p99_ms": 1000 * percentile(ttfts, 99),
            "total_p50_ms": 1000 * percentile(totals, 50),
            "total_p99_ms": 1000 * percentile(totals, 99),
            # Medians over rounds: each round is one burst of `concurrency` streams.
            "streams_per_s": statistics.median(len(p.results) / p.wall for p in runs),
            "tokens_per_s": statistics.median(len(p.results) * units / p.wall for p in runs),
        }
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--units", type=int, default=40, help="chunks per answer")
    parser.add_argument("--delay", type=float, default=0.01, help="seconds between chunks")
    parser.add_argument("--max-concurrency", type=int, default=256, help="server limit")
    parser.add_argument(
        "--upstream-only", action="store_true", help="only the OpenAI-compatible upstream part"
    )
    parser.add_argument(
        "--workers",
        type=int,
        action="append",
        default=[],
        help="also measure the fast path with this many server workers (repeatable)",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="measuring client: raw sockets (light) or a shared httpx client (SDK-like)",
    )
    parser.add_argument(
        "--cpu",
        type=int,
        default=0,
        metavar="N",
        help="only measure the server's CPU per request: N sequential requests each to /health "
        "and to 1-chunk and --units-chunk fast-path streams (Linux: read from /proc)",
    )
    parser.add_argument(
        "--routes",
        default="",
        metavar="LIST",
        help="also measure these protocol routes (responses,messages) beside the chat route, "
        "fast path, interleaved rounds; each route's total p50 against the chat route's",
    )
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global CLIENT
    CLIENT = args.client
    if args.serve_upstream:
        import uvicorn

        reply = " ".join(WORDS[i % len(WORDS)] for i in range(args.units)) + "."
        app = upstream_app(reply, args.delay)
        uvicorn.run(app, host="127.0.0.1", port=args.serve_upstream, log_level="warning")
        return

    if args.cpu:
        # Back to back: chunks 10 ms apart cost every process on this kind of VM a wakeup each
        # (the fake upstream's own CPU per stream grows from 2 to 14 ms), which hides the
        # server's work per chunk.
        args.delay = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        configs = Path(tmp)
        expected = write_configs(configs, args.units, args.delay)
        upstream_port = free_port()
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        (configs / "upstream").mkdir()
        (configs / "upstream" / "config.yml").write_text(UPSTREAM_CONFIG.format(url=upstream_url))
        upstream = start_upstream(upstream_port, args.units, args.delay)
        try:
            if args.cpu:
                cpu_per_request(args, configs, expected)
                return
            if not args.upstream_only:
                scripted_phases(args, configs, expected)
            upstream_phases(args, configs, upstream_url, expected)
            if args.routes:
                route_phases(args, configs, expected)
        finally:
            upstream.terminate()
            upstream.wait(timeout=30)


def cpu_per_request(args: argparse.Namespace, configs: Path, expected: str) -> None:
    """The server's CPU per request, requests one at a time (no queueing, no contention): what a
    burst of requests queues behind, and what a chunk costs."""
    short_port = free_port()
    short = start_upstream(short_port, 1, 0.0)
    (configs / "upstream1").mkdir()
    (configs / "upstream1" / "config.yml").write_text(
        UPSTREAM_CONFIG.format(url=f"http://127.0.0.1:{short_port}")
    )
    port = free_port()
    server = start_server(configs, port, args.max_concurrency)
    url = f"http://127.0.0.1:{port}"

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def health() -> None:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(args.cpu):
                (await client.get("/health")).raise_for_status()

    async def streams(config: str, answer: str) -> None:
        for _ in range(args.cpu):
            result = await one_stream(url, config, answer)
            if not result.ok:
                raise RuntimeError(f"{config}: {result.problem or result.status}")

    short_answer = WORDS[0] + "."
    try:
        print(
            f"server CPU per request, {args.cpu} requests one at a time (fast path, no rails, "
            "chunks back to back):"
        )
        for label, work in (
            ("GET /health", health),
            ("stream of 1 chunk", lambda: streams("upstream1", short_answer)),
            (f"stream of {args.units} chunks", lambda: streams("upstream", expected)),
        ):
            asyncio.run(work())  # warm up (the same count)
            before = cpu_seconds()
            asyncio.run(work())
            print(f"  {label:<22} {1000 * (cpu_seconds() - before) / args.cpu:6.2f} ms")
    finally:
        server.terminate()
        short.terminate()
        server.wait(timeout=30)
        short.wait(timeout=30)


def scripted_phases(args: argparse.Namespace, configs: Path, expected: str) -> None:
    """The scripted model: no rails, stream_first and hold-back rails, and the 503 phase."""
    port = free_port()
    server = start_server(configs, port, args.max_concurrency)
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(burst(url, "passthrough", 5, expected))  # warm up
        phases = []
        for _ in range(args.rounds):
            for config in ("passthrough", "stream_first", "holdback"):
                phases.append(asyncio.run(burst(url, config, args.concurrency, expected)))
        over = asyncio.run(burst(url, "stream_first", args.max_concurrency + 50, expected))
    finally:
        server.terminate()
        server.wait(timeout=30)

    table = summarize(phases, args.units)
    print(
        f"{args.concurrency} concurrent streams x {args.rounds} rounds, {args.units} chunks "
        f"every {args.delay * 1000:g} ms per answer (model time {args.units * args.delay:.2f} s), "
        f"one server process, {os.cpu_count()} CPUs (client on the same machine)\n"
    )
    header = (
        f"{'config':<13} {'ok':>9} {'5xx':>4} {'ttft p50':>9} {'ttft p99':>9} "
        f"{'total p50':>10} {'total p99':>10} {'streams/s':>10} {'tokens/s':>9}"
    )
    print(header)
    for config, row in table.items():
        print(
            f"{config:<13} {int(row['complete_and_correct']):>4}/{int(row['requests']):<4} "
            f"{int(row['5xx']):>4} {row['ttft_p50_ms']:>7.1f}ms {row['ttft_p99_ms']:>7.1f}ms "
            f"{row['total_p50_ms']:>8.0f}ms {row['total_p99_ms']:>8.0f}ms "
            f"{row['streams_per_s']:>10.1f} {row['tokens_per_s']:>9.0f}"
        )
    base = table["passthrough"]
    print("\nratios against passthrough (same run):")
    for config in ("stream_first", "holdback"):
        row = table[config]
        print(
            f"  {config:<13} ttft p50 x{row['ttft_p50_ms'] / base['ttft_p50_ms']:.2f}, "
            f"total p50 x{row['total_p50_ms'] / base['total_p50_ms']:.2f}, "
            f"throughput x{row['streams_per_s'] / base['streams_per_s']:.2f}"
        )
    busy = sum(r.status == 503 for r in over.results)
    print(
        f"\nover the limit: {len(over.results)} streams at once against --max-concurrency "
        f"{args.max_concurrency}: {sum(r.ok for r in over.results)} complete and correct, "
        f"{busy} answered 503 + Retry-After, "
        f"{sum(r.status >= 500 and r.status != 503 for r in over.results)} other 5xx\n"
    )
    report_problems(phases)
    if any(row["complete_and_correct"] != row["requests"] for row in table.values()):
        sys.exit(1)


UPSTREAM_SERVERS = {
    "fast path": (),
    "LangChain path": ("--no-fast-path",),
}
"""Our server in front of the upstream, by label: the extra CLI flags of each."""


def upstream_phases(
    args: argparse.Namespace, configs: Path, upstream_url: str, expected: str
) -> None:
    """Direct to the upstream against our server (no rails) in front of it, same run."""
    runs: dict[str, dict[int, list[Phase]]] = {}
    levels = sorted({args.concurrency, 20})
    servers = {**UPSTREAM_SERVERS, **{f"fast path, {n} workers": ("--workers", str(n))
                                      for n in args.workers if n > 1}}  # fmt: skip
    asyncio.run(burst(upstream_url, "direct", 5, expected))  # warm up
    runs["direct"] = {
        n: [asyncio.run(burst(upstream_url, "direct", n, expected)) for _ in range(args.rounds)]
        for n in levels
    }
    for label, flags in servers.items():
        port = free_port()
        server = start_server(configs, port, args.max_concurrency, *flags)
        url = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(burst(url, "upstream", 5, expected))  # warm up
            runs[label] = {
                n: [asyncio.run(burst(url, "upstream", n, expected)) for _ in range(args.rounds)]
                for n in levels
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"against a fake OpenAI-compatible upstream on 127.0.0.1 ({args.units} chunks every "
        f"{args.delay * 1000:g} ms), no rails, {args.rounds} rounds, same run:"
    )
    print(
        f"  {'path':<24} {'streams':>5} {'ok':>9} {'ttft p50':>9} {'ttft p99':>9} "
        f"{'total p50':>10} {'total p99':>10} {'streams/s':>10}"
    )
    medians: dict[tuple[str, int], tuple[float, float]] = {}
    for label, by_level in runs.items():
        for n, phases in by_level.items():
            results = [r for p in phases for r in p.results]
            ttfts = [t for p in phases for t in p.ttfts]
            totals = [r.total for r in results if r.status == 200]
            medians[label, n] = (percentile(ttfts, 50), percentile(totals, 50))
            print(
                f"  {label:<24} {n:>7} {sum(r.ok for r in results):>4}/{len(results):<4} "
                f"{1000 * percentile(ttfts, 50):>7.1f}ms {1000 * percentile(ttfts, 99):>7.1f}ms "
                f"{1000 * percentile(totals, 50):>8.0f}ms {1000 * percentile(totals, 99):>8.0f}ms "
                f"{statistics.median(len(p.results) / p.wall for p in phases):>10.1f}"
            )
    print("\ntargets (issue 14): total p50 <= 1.5x direct at the high level, "
          "ttft p50 <= direct + 5 ms at 20 streams")  # fmt: skip
    for label in runs:
        if label == "direct":
            continue
        high = max(levels)
        ratio = medians[label, high][1] / medians["direct", high][1]
        added = 1000 * (medians[label, 20][0] - medians["direct", 20][0])
        print(f"  {label:<24} total p50 x{ratio:.2f} at {high}; ttft +{added:.1f} ms at 20")
    phases = [p for by_level in runs.values() for ps in by_level.values() for p in ps]
    report_problems(phases)
    if any(not r.ok for p in phases for r in p.results):
        sys.exit(1)


def route_phases(args: argparse.Namespace, configs: Path, expected: str) -> None:
    """The Responses and Messages routes beside the chat route (issue 23: each within 1.15x of
    the chat route's per-stream p50 at the high level)."""
    # Imported here: protocol_load builds on this module's client and servers.
    from protocol_load import measure_routes

    print(
        f"\nprotocol routes, fast path, no rails, {args.concurrency} concurrent streams, "
        f"{args.rounds} interleaved rounds:"
    )
    if measure_routes(configs, args.routes.split(","), args.concurrency, args.rounds, expected):
        sys.exit(1)


def report_problems(phases: list[Phase]) -> None:
    problems = sorted({r.problem for p in phases for r in p.results if r.problem})
    for problem in problems[:5]:
        print("problem:", problem)


if __name__ == "__main__":
    main()
