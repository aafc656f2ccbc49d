"""Issue 13 items 9, 10 and 14: a broken config is its own problem (the others keep serving,
clients see no paths), ``--no-actions``, and reloading configs without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from langchain_guardrails.errors import ConfigError
from langchain_guardrails.server import create_app

GOOD = """\
models:
  - type: main
    engine: scripted
    parameters: {default_reply: "%s"}
"""
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)
BROKEN = {
    "recursive": "models: &a [*a]\n",
    "laughs": LAUGHS,
}
USER = [{"role": "user", "content": "hi"}]


def make(root: Path, name: str, yaml_text: str, actions: str | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yml").write_text(yaml_text)
    if actions is not None:
        (folder / "actions.py").write_text(actions)
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make(tmp_path, "good", GOOD % "fine")
    make(tmp_path, "recursive", BROKEN["recursive"])
    make(tmp_path, "laughs", LAUGHS)
    return tmp_path


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def test_broken_configs_do_not_stop_the_others(root: Path) -> None:
    # Before the fix: RecursionError at start-up, 30 s and all memory, or a silent exit 7.
    app = create_app(root, preload=True)
    # An actions.py that exits now fails start-up instead (test_actions_trust.py).
    assert sorted(app.state.config_errors) == ["laughs", "recursive"]
    assert "nested deeper than 64 levels" in app.state.config_errors["recursive"]
    assert "expands to more than 100000 values" in app.state.config_errors["laughs"]
    async with client(app) as http:
        models = await http.get("/v1/models")
        good = await http.post("/v1/chat/completions", json={"config_id": "good", "messages": USER})
        broken = {
            name: await http.post(
                "/v1/chat/completions", json={"config_id": name, "messages": USER}
            )
            for name in BROKEN
        }
    assert [m["id"] for m in models.json()["data"]] == ["good"]
    assert good.json()["choices"][0]["message"]["content"] == "fine"
    kinds = {"recursive": "ConfigError", "laughs": "ConfigError"}
    for name, response in broken.items():
        assert response.status_code == 500
        assert response.json()["error"] == {
            "message": f"Config {name!r} could not be loaded ({kinds[name]}); see the server log",
            "type": "server_error",
            "param": None,
            "code": "config_error",
        }
        assert str(root) not in response.text


def test_no_actions_refuses_configs_with_code(tmp_path: Path) -> None:
    make(tmp_path, "good", GOOD % "fine")
    make(tmp_path, "coded", GOOD % "x", actions="print('ran')\n")
    app = create_app(tmp_path, preload=True, allow_actions=False)
    assert app.state.config_errors == {
        "coded": "config 'coded' carries Python code (actions.py) and the server runs with "
        "--no-actions"
    }


def test_all_configs_broken_is_a_config_error(tmp_path: Path) -> None:
    make(tmp_path, "recursive", BROKEN["recursive"])
    with pytest.raises(ConfigError, match="no config could be loaded"):
        create_app(tmp_path, preload=True)


async def test_reload_picks_up_changes_and_keeps_old_on_error(tmp_path: Path) -> None:
    good = make(tmp_path, "good", GOOD % "version one")
    make(tmp_path, "other", GOOD % "other")
    fixed_later = make(tmp_path, "later", BROKEN["recursive"])
    app = create_app(tmp_path, preload=True)

    async def say(http: httpx.AsyncClient, config_id: str) -> str:
        response = await http.post(
            "/v1/chat/completions", json={"config_id": config_id, "messages": USER}
        )
        return str(response.json()["choices"][0]["message"]["content"])

    async with client(app) as http:
        assert await say(http, "good") == "version one"
        (good / "config.yml").write_text(GOOD % "version two!")
        (fixed_later / "config.yml").write_text(GOOD % "now fixed")
        first = (await http.post("/v1/rails/configs/reload", json={})).json()
        assert await say(http, "good") == "version two!"
        assert await say(http, "later") == "now fixed"
        (good / "config.yml").write_text("models: &a [*a]\n")
        second = (await http.post("/v1/rails/configs/reload", json={})).json()
        assert await say(http, "good") == "version two!"  # the old version keeps serving
        models = (await http.get("/v1/models")).json()
    assert first == {
        "reloaded": ["good", "later"],
        "unchanged": ["other"],
        "removed": [],
        "errors": {},
        "workers": {"total": 1, "reloaded": 1},
    }
    assert second == {
        "reloaded": [],
        "unchanged": ["later", "other"],
        "removed": [],
        "errors": {"good": "config 'good' could not be loaded (ConfigError); see the server log"},
        "workers": {"total": 1, "reloaded": 1},
    }
    assert [m["id"] for m in models["data"]] == ["good", "later", "other"]


async def test_reload_needs_the_api_key(tmp_path: Path) -> None:
    make(tmp_path, "good", GOOD % "fine")
    async with client(create_app(tmp_path, api_key="s3cret")) as http:
        response = await http.post("/v1/rails/configs/reload", json={})
    assert response.status_code == 401
