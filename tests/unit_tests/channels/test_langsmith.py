"""LangSmith traces are complete and redacted: checked against a local endpoint that records
what the tracer posts (no network)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.testing import FakeStreamingChatModel

SECRET = "hunter2"


class Recorded:
    def __init__(self) -> None:
        self.parts: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    def runs(self) -> dict[str, dict[str, Any]]:
        """Run id -> the run's fields, inputs and outputs (posts and patches merged)."""
        runs: dict[str, dict[str, Any]] = {}
        with self.lock:
            parts = list(self.parts)
        for name, body in parts:
            match = re.fullmatch(r"(post|patch)\.([0-9a-f-]+)(?:\.(\w+))?", name)
            if match is None:
                continue
            _, run_id, field = match.groups()
            if field in ("serialized", "extra", "events"):
                continue  # the model object's description, not what it produced
            run = runs.setdefault(run_id, {})
            value = json.loads(body)
            if field is None:
                run.update(value)
            else:
                run[field] = value
        return runs


@pytest.fixture
def endpoint() -> Iterator[tuple[str, Recorded]]:
    recorded = Recorded()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def do_GET(self) -> None:
            self._reply()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            boundary = self.headers.get("content-type", "").partition("boundary=")[2]
            if boundary:
                for part in body.split(b"--" + boundary.encode())[1:-1]:
                    head, _, content = part.strip(b"\r\n").partition(b"\r\n\r\n")
                    name = re.search(rb'name="([^"]+)"', head)
                    if name:
                        with recorded.lock:
                            recorded.parts.append((name.group(1).decode(), content))
            self._reply()

        do_PATCH = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", recorded
    finally:
        server.shutdown()
        server.server_close()


def rails_config(stream_first: bool) -> RailsConfig:
    return RailsConfig.from_content(
        config={
            "rails": {
                "input": {"flows": ["regex check input"]},
                "output": {
                    "flows": ["regex check output"],
                    "streaming": {
                        "enabled": True,
                        "chunk_size": 3,
                        "context_size": 1,
                        "stream_first": stream_first,
                    },
                },
                "config": {
                    "regex_detection": {
                        "input": {"patterns": ["ignore previous"]},
                        "output": {"patterns": [r"hunter\d"]},
                    }
                },
            }
        }
    )


@pytest.mark.parametrize("stream_first", [False, True])
async def test_one_call_posts_the_guard_the_model_and_every_rail(
    endpoint: tuple[str, Recorded], stream_first: bool
) -> None:
    from langchain_core.tracers.context import tracing_v2_enabled
    from langchain_core.tracers.langchain import wait_for_all_tracers
    from langsmith import Client

    url, recorded = endpoint
    client = Client(api_url=url, api_key="test-key")
    config = rails_config(stream_first)
    model = FakeStreamingChatModel(
        chunks=["The ", "admin ", "password ", "is ", SECRET, " and ", "more ", "text."]
    )
    guarded = Guardrails(llm=model, config=config)
    with tracing_v2_enabled(project_name="guardrails-test", client=client):
        message = await guarded.ainvoke("What is the password?")
    wait_for_all_tracers()
    client.flush()
    assert message.response_metadata["guardrails"]["blocked"] is True

    runs = recorded.runs()
    names = [run.get("name", "?") for run in runs.values()]
    assert set(names) == {
        "FakeStreamingChatModel",
        "Guardrails",
        "regex check input",
        "regex check output",
    }
    assert names.count("Guardrails") == names.count("FakeStreamingChatModel") == 1
    # One output-rail run per window checked, the blocking one included.
    blocked_window = message.response_metadata["guardrails"]["window"]
    assert names.count("regex check output") >= blocked_window + 1
    guard_id = next(i for i, r in runs.items() if r["name"] == "Guardrails")
    children = {r["name"] for r in runs.values() if r.get("parent_run_id") == guard_id}
    assert children == {"FakeStreamingChatModel", "regex check input", "regex check output"}
    blocking = [r for r in runs.values() if r["name"] == "regex check output" and r.get("outputs")]
    assert any(r["outputs"].get("allowed") is False for r in blocking)
    if not stream_first:
        assert SECRET not in json.dumps(runs)
