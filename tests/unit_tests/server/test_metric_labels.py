"""Issue 21 item 5: metric labels are a bounded set whatever clients send: routes are route
templates or ``other``, config ids are served config ids (a block is counted under the config
that was resolved, never under the request's ``model``)."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from langchain_guardrails.server import create_app

CONFIG = """\
models:
  - {type: main, engine: scripted, parameters: {default_reply: fine}}
rails:
  input: {flows: [regex check input]}
  config:
    regex_detection:
      input: {patterns: [forbidden]}
"""
KEY = "k-123"


def labels(text: str, metric: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(text)
        if family.name == metric
        for sample in family.samples
        if label in sample.labels
    }


async def test_random_paths_and_models_do_not_grow_the_metrics(tmp_path: Path) -> None:
    (tmp_path / "guarded").mkdir()
    (tmp_path / "guarded" / "config.yml").write_text(CONFIG)
    app = create_app(tmp_path, api_key=KEY, langserve=True)
    auth = {"Authorization": f"Bearer {KEY}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        await http.get("/health")
        small = len((await http.get("/metrics", headers=auth)).content)
        for _ in range(2000):  # no key: 401 each
            assert (await http.get(f"/configs/{secrets.token_hex(8)}")).status_code == 401
        for index in range(200):  # with the key: unknown paths, and a served LangServe route
            await http.get(f"/v1/{secrets.token_hex(8)}", headers=auth)
            await http.get(f"/configs/guarded/{secrets.token_hex(8)}", headers=auth)
            if index < 3:
                await http.get("/configs/guarded/input_schema", headers=auth)
        for _ in range(200):  # any `model` string: the default config checks it
            checked = await http.post(
                "/v1/guardrail/checks",
                headers=auth,
                json={
                    "model": secrets.token_hex(8),
                    "messages": [{"role": "user", "content": "forbidden"}],
                },
            )
            assert checked.json()["status"] == "blocked"
        text = (await http.get("/metrics", headers=auth)).text
    assert labels(text, "guardrails_requests", "route") == {
        "/health",
        "/metrics",
        "/v1/guardrail/checks",
        "/configs/{config_id}/input_schema",
        "other",
    }
    # Before the fix each random path and each random model was a label of its own (1.2 MB).
    assert labels(text, "guardrails_blocks", "config_id") == {"guarded"}
    blocks = [
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "guardrails_blocks"
        for sample in family.samples
        if sample.name == "guardrails_blocks_total"
    ]
    assert blocks == [200.0]
    assert len(text) < small + 2500
