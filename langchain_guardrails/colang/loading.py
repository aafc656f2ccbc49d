"""Loading a config's Colang: every ``.co`` file of a folder (recursively, in path order, as
NeMo loads them) or ``colang_content`` text, merged into one :class:`ColangProgram`."""

from __future__ import annotations

from pathlib import Path

from langchain_guardrails.colang.nodes import EMPTY_PROGRAM, ColangProgram
from langchain_guardrails.colang.parser import parse_colang
from langchain_guardrails.errors import ConfigError


def load_colang_folder(root: Path) -> ColangProgram:
    """The rail flows of every ``.co`` file under ``root``; dialog rails are refused.

    Example:
        .. code-block:: python

            load_colang_folder(Path("config")).flows  # {"check blocked terms": ...}
    """
    program = EMPTY_PROGRAM
    for path in sorted(root.rglob("*.co")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from exc
        program = program.merged(parse_colang(text, str(path)))
    return program


def load_colang_content(text: str | None) -> ColangProgram:
    """The rail flows of ``RailsConfig.from_content(colang_content=...)``."""
    if not text or not text.strip():
        return EMPTY_PROGRAM
    return parse_colang(text, "<colang_content>")


__all__ = ["load_colang_content", "load_colang_folder"]
