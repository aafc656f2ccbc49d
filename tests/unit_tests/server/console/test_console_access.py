"""Issue 25: the console honours the API key, Host and Origin rules, refuses bad input with a
clear error, shows unreleased text only with --console-debug, and costs other requests nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from langchain_guardrails.server import create_app
from langchain_guardrails.server.console import timeline

from .conftest import BLOCKED, CONSOLE_CONFIGS, PASSING, Run

KEY = "s3cret"
RUN = {"config_id": "held", "messages": [{"role": "user", "content": PASSING}]}


def client_of(app: Any, host: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


def error(message: str, code: str | None, param: str | None = None, **extra: Any) -> Any:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
            **extra,
        }
    }


async def test_the_page_loads_without_a_key_and_the_api_needs_it() -> None:
    app = create_app(CONSOLE_CONFIGS, api_key=KEY)
    async with client_of(app) as http:
        page = await http.get("/ui")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert '<body data-debug="0">' in page.text
        script = await http.get("/ui/static/console.js")
        assert script.status_code == 200
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        for method, path in (
            ("GET", "/ui/api/configs"),
            ("GET", "/ui/api/rails"),
            ("GET", "/ui/api/datasets"),
            ("POST", "/ui/api/run"),
            ("POST", "/ui/api/eval"),
        ):
            response = await http.request(method, path, json={} if method == "POST" else None)
            assert (response.status_code, response.json()) == (
                401,
                error("Missing API key", "invalid_api_key"),
            ), path
        wrong = await http.get("/ui/api/configs", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["message"] == "Incorrect API key provided"
        auth = {"Authorization": f"Bearer {KEY}"}
        listed = await http.get("/ui/api/configs", headers=auth)
        assert listed.status_code == 200
        ran = await http.post("/ui/api/run", json=RUN, headers=auth)
        assert Run(ran.text).answer == "The capital of France is Paris."


async def test_a_foreign_origin_and_a_foreign_host_are_refused() -> None:
    app = create_app(CONSOLE_CONFIGS)
    async with client_of(app) as http:
        response = await http.post(
            "/ui/api/run", json=RUN, headers={"Origin": "https://evil.example"}
        )
        assert (response.status_code, response.json()) == (
            403,
            error(
                "Cross-origin requests from 'https://evil.example' are not allowed "
                "(allow the origin with --cors-origin)",
                "origin_not_allowed",
            ),
        )
        same = await http.post("/ui/api/run", json=RUN, headers={"Origin": "http://127.0.0.1"})
        assert same.status_code == 200
    async with client_of(app, host="rebound.example") as http:
        for path in ("/ui", "/ui/api/configs"):
            response = await http.get(path)
            assert (response.status_code, response.json()) == (
                403,
                error(
                    "Host 'rebound.example' is not served here (allow it with --allowed-host)",
                    "host_not_allowed",
                ),
            )


async def test_only_the_console_files_are_served() -> None:
    app = create_app(CONSOLE_CONFIGS)
    async with client_of(app) as http:
        missing = await http.get("/ui/static/routes.py")
        assert (missing.status_code, missing.json()) == (
            404,
            {"error": {"message": "no such file: routes.py"}},
        )
        climbing = await http.get("/ui/static/..%2Froutes.py")
        assert (climbing.status_code, climbing.json()) == (404, {"detail": "Not Found"})
        css = await http.get("/ui/static/console.css")
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        assert css.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            {**RUN, "mode": "fast"},
            400,
            error(
                "mode must be one of stream_first, hold_back (got 'fast')", "invalid_value", "mode"
            ),
        ),
        (
            {"config_id": "held"},
            400,
            error("'messages' is a required property", "missing_required", "messages"),
        ),
        (
            {**RUN, "config_id": 7},
            400,
            error("config_id must be a string", "invalid_value", "config_id"),
        ),
        (
            [1, 2],
            400,
            error("The request body must be a JSON object", "invalid_value"),
        ),
        (
            {**RUN, "config_id": "nope"},
            404,
            error(
                "Unknown config_id 'nope'; known config ids: flowing, held",
                "config_not_found",
                "config_id",
                known_config_ids=["flowing", "held"],
            ),
        ),
    ],
)
async def test_bad_runs_get_a_clear_error(body: Any, status: int, expected: Any) -> None:
    app = create_app(CONSOLE_CONFIGS)
    async with client_of(app) as http:
        response = await http.post("/ui/api/run", json=body)
    assert (response.status_code, response.json()) == (status, expected)


async def test_debug_shows_raw_tokens_and_says_so_on_the_page() -> None:
    app = create_app(CONSOLE_CONFIGS, console_debug=True)
    async with client_of(app) as http:
        page = await http.get("/ui")
        assert '<body data-debug="1">' in page.text
        configs = (await http.get("/ui/api/configs")).json()
        assert configs["debug"] is True
        body = {"config_id": "held", "messages": [{"role": "user", "content": BLOCKED}]}
        result = Run((await http.post("/ui/api/run", json=body)).text)
    assert result.timeline[0]["debug"] is True
    raw = "".join(e["text"] for e in result.of("console.debug.token"))
    assert raw.startswith("Sure, here it is: the secret plan")
    # The client's own answer is unchanged by debug.
    assert result.answer == "Sure, here it is: the \n\n"


async def test_without_debug_no_token_reaches_the_console(client: httpx.AsyncClient) -> None:
    body = {"config_id": "held", "messages": [{"role": "user", "content": BLOCKED}]}
    result = Run((await client.post("/ui/api/run", json=body)).text)
    assert result.of("console.debug.token") == []


async def test_chat_requests_attach_no_console_listener(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    original = timeline.TimelineCollector.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(timeline.TimelineCollector, "__init__", counting)
    for stream in (False, True):
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "held", "stream": stream, **{k: RUN[k] for k in ("messages",)}},
        )
        assert response.status_code == 200
    assert built == []
    await client.post("/ui/api/run", json=RUN)
    assert len(built) == 1


async def test_the_console_can_be_turned_off() -> None:
    app = create_app(CONSOLE_CONFIGS, console=False)
    async with client_of(app) as http:
        assert (await http.get("/ui")).status_code == 404
        assert (await http.post("/ui/api/run", json=RUN)).status_code == 404


async def test_stream_first_is_refused_for_a_masking_config(tmp_path: Any) -> None:
    folder = tmp_path / "masking"
    folder.mkdir()
    (folder / "config.yml").write_text(
        "models: [{type: main, engine: scripted, parameters: {default_reply: 'Mail a@b.co'}}]\n"
        "rails:\n"
        "  output:\n"
        "    flows: [mask sensitive data on output]\n"
        "    streaming: {enabled: true, chunk_size: 4, context_size: 1, stream_first: false}\n"
        "  config:\n"
        "    sensitive_data_detection: {output: {entities: [EMAIL_ADDRESS]}}\n"
    )
    app = create_app(folder)
    async with client_of(app) as http:
        body = {"messages": [{"role": "user", "content": "Hi"}], "mode": "stream_first"}
        response = await http.post("/ui/api/run", json=body)
        assert (response.status_code, response.json()) == (
            400,
            error(
                "mode stream_first: output rail 'mask sensitive data on output' rewrites text, "
                "which needs hold-back mode: set rails.output.streaming.stream_first: false "
                "(text already released cannot be rewritten)",
                "invalid_value",
                "mode",
            ),
        )
        held = Run((await http.post("/ui/api/run", json={**body, "mode": "hold_back"})).text)
        assert held.answer == "Mail <EMAIL_ADDRESS>"
