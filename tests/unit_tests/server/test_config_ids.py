"""``config_id`` is a name among the served folders: nothing a client sends reads elsewhere."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from langchain_guardrails import ConfigError
from langchain_guardrails.server import create_app
from langchain_guardrails.server.configs import ConfigRegistry, UnknownConfigError

CONFIG = """\
models:
  - type: main
    engine: scripted
    parameters: {default_reply: "%s"}
"""
# Loading a config imports its actions.py: this one leaves a mark if it is ever loaded.
TRAP = "from pathlib import Path\nPath(__file__).with_name('LOADED').write_text('yes')\n"


def make_config(folder: Path, reply: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.yml").write_text(CONFIG % reply)
    return folder


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "configs"
    make_config(root / "a", "from a")
    make_config(root / "b", "from b")
    outside = make_config(tmp_path / "outside" / "evil", "from outside")
    (outside / "actions.py").write_text(TRAP)
    (root / "linked-out").symlink_to(outside, target_is_directory=True)
    (root / "linked-in").symlink_to(root / "a", target_is_directory=True)
    file_link = root / "file-link"
    file_link.mkdir()
    (file_link / "config.yml").symlink_to(outside / "config.yml")
    extra_link = make_config(root / "extra-link", "from extra-link")
    (extra_link / "more.yml").symlink_to(outside / "config.yml")
    (root / "not-a-config").mkdir()
    return {"root": root, "outside": outside}


def test_only_contained_config_folders_are_served(tree: dict[str, Path]) -> None:
    registry = ConfigRegistry(tree["root"])
    assert registry.ids() == ["a", "b", "linked-in"]
    assert registry.get("linked-in").config.config_path == str(tree["root"] / "linked-in")


ATTEMPTS = [
    "..",
    ".",
    "",
    "../outside/evil",
    "a/../../outside/evil",
    "..%2Foutside%2Fevil",
    "%2e%2e%2foutside%2fevil",
    "..\\outside\\evil",
    "a\x00",
    "a/",
    " a",
    "linked-out",
    "file-link",
    "extra-link",
    "not-a-config",
]


@pytest.mark.parametrize("config_id", ATTEMPTS)
def test_registry_rejects(tree: dict[str, Path], config_id: str) -> None:
    registry = ConfigRegistry(tree["root"])
    with pytest.raises(UnknownConfigError) as caught:
        registry.get(config_id)
    assert (
        str(caught.value) == f"Unknown config_id {config_id!r}; known config ids: a, b, linked-in"
    )
    assert not (tree["outside"] / "LOADED").exists()


def test_registry_rejects_absolute_paths(tree: dict[str, Path]) -> None:
    registry = ConfigRegistry(tree["root"])
    for config_id in (str(tree["outside"]), str(tree["root"] / "a"), os.sep + "etc"):
        with pytest.raises(UnknownConfigError):
            registry.get(config_id)
    assert not (tree["outside"] / "LOADED").exists()


@pytest.fixture
async def http(tree: dict[str, Path]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(tree["root"], default_config_id="a")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


@pytest.mark.parametrize("config_id", [*ATTEMPTS, "/etc", "/tmp"])
async def test_server_answers_404_to_traversal(
    http: httpx.AsyncClient, tree: dict[str, Path], config_id: str
) -> None:
    messages = [{"role": "user", "content": "hi"}]
    for path, body in [
        ("/v1/chat/completions", {"config_id": config_id, "messages": messages}),
        ("/v1/chat/completions", {"config_id": config_id, "messages": messages, "stream": True}),
        ("/v1/chat/completions", {"guardrails": {"config_id": config_id}, "messages": messages}),
        ("/v1/guardrail/checks", {"config_id": config_id, "messages": messages}),
    ]:
        response = await http.post(path, json=body)
        assert response.status_code == 404, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "config_not_found"
        assert error["known_config_ids"] == ["a", "b", "linked-in"]
    absolute = {"config_id": str(tree["outside"]), "messages": messages}
    assert (await http.post("/v1/chat/completions", json=absolute)).status_code == 404
    assert not (tree["outside"] / "LOADED").exists()


async def test_a_model_naming_a_path_is_not_a_config(
    http: httpx.AsyncClient, tree: dict[str, Path]
) -> None:
    body = {"model": "../outside/evil", "messages": [{"role": "user", "content": "hi"}]}
    response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "from a"  # the default config
    assert not (tree["outside"] / "LOADED").exists()


async def test_listings_show_only_served_configs(http: httpx.AsyncClient) -> None:
    assert (await http.get("/v1/rails/configs")).json() == [
        {"id": "a"},
        {"id": "b"},
        {"id": "linked-in"},
    ]


def test_cache_is_bounded(tree: dict[str, Path]) -> None:
    registry = ConfigRegistry(tree["root"], cache_size=1)
    first = registry.get("a")
    assert registry.get("a") is first
    registry.get("b")
    assert registry.cached("a") is None
    assert registry.cached("b") is not None
    assert registry.get("a") is not first


def test_single_config_folder_is_served_by_its_name(tree: dict[str, Path]) -> None:
    registry = ConfigRegistry(tree["root"] / "b")
    assert registry.ids() == ["b"]
    assert registry.get("b").config.config_path == str(tree["root"] / "b")
    with pytest.raises(UnknownConfigError):
        registry.get("..")


async def test_broken_config_is_a_server_error_naming_it(tmp_path: Path) -> None:
    make_config(tmp_path / "good", "fine")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yml").write_text("rails:\n  inptu: {}\n")
    app = create_app(tmp_path)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as http:
        body = {"config_id": "broken", "messages": [{"role": "user", "content": "hi"}]}
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "config_error"
    # Issue 13 item 10: the client sees the config id and a short message, no path or text.
    assert (
        error["message"] == "Config 'broken' could not be loaded (ConfigError); see the server log"
    )
    assert str(tmp_path) not in response.text and "inptu" not in response.text


def test_create_app_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config folder"):
        create_app(tmp_path / "missing")
    with pytest.raises(
        ConfigError, match=r"no config folders found \(a config folder holds a config.yml\)"
    ):
        create_app(tmp_path)
    make_config(tmp_path / "a", "x")
    with pytest.raises(
        ConfigError, match=r"^default_config_id: Unknown config_id 'b'; known config ids: a$"
    ):
        create_app(tmp_path, default_config_id="b")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.yml").write_text("models: 3\n")
    app = create_app(tmp_path, preload=True)
    assert list(app.state.config_errors) == ["broken"]
    assert app.state.config_errors["broken"].startswith(
        f"{tmp_path / 'broken' / 'config.yml'}:1: models:"
    )
    (tmp_path / "a" / "config.yml").write_text("rails: {}\n")  # no model: cannot be built
    with pytest.raises(
        ConfigError, match=r"^no config could be loaded:\na: Guardrails needs a model"
    ):
        create_app(tmp_path, preload=True)


def test_registry_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cache_size must be >= 1 \(got 0\)"):
        ConfigRegistry(tmp_path, cache_size=0)


def test_known_ids_fixture(app: Any) -> None:
    assert app.state.registry.ids() == [
        "exceptions",
        "failing",
        "guarded",
        "holdback",
        "plain",
        "slow",
        "truncated",
    ]
