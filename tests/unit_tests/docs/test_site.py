"""The documentation site builds strictly, the README stays a front door, and its picture is
what its script draws."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .blocks import DOCS, ROOT

README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None
    or importlib.util.find_spec("material") is None
    or importlib.util.find_spec("mkdocstrings_handlers") is None,
    reason="the docs extra is not installed (pip install -e '.[docs]'); make test installs it",
)
def test_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "api" / "index.html").read_text().count('id="langchain_guardrails.') > 20
    assert (tmp_path / "concepts" / "index.html").exists()


def test_every_page_is_in_the_nav_and_says_what_you_will_learn() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in DOCS.rglob("*.md"):
        name = page.relative_to(DOCS).as_posix()
        assert name in nav, name
        lines = page.read_text(encoding="utf-8").split("\n")
        assert lines[0].startswith("# "), name
        assert lines[2].startswith("**What you will learn:**"), name


def test_readme_is_a_front_door() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.count("\n") <= 300
    assert "make demo" in text and "make test" in text
    assert "docs/assets/window-timeline.svg" in text
    targets = LINK.findall(text)
    assert len([t for t in targets if t.startswith("docs/")]) >= 15
    for target in targets:
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_timeline_picture_is_what_its_script_draws() -> None:
    spec = importlib.util.spec_from_file_location(
        "timeline", DOCS / "assets" / "window_timeline.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (DOCS / "assets" / "window-timeline.svg").read_text(encoding="utf-8") == module.draw()
    assert module.windows() == [(0, 0, 4), (2, 4, 8), (6, 8, 12), (10, 12, 14)]
    spans = module.windows()
    assert [module.released_after(k, spans) for k in range(4)] == [
        (0, 2),
        (2, 6),
        (6, 10),
        (10, 14),
    ]
