"""What ``check --nemo`` says of a folder's Colang rail flows, and how it reads the result of a
NeMo action used directly as a flow name: True = allowed, whatever the name suggests (NeMo's own
flows test ``if $is_blocked``), with a warning when the name reads the other way."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_guardrails.errors import ConfigError


@dataclass
class Findings:
    """Lines for the report's ``runs`` and ``warnings``."""

    runs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def flow_name(entry: Any) -> str:
    """The flow name of a ``rails.<stage>.flows`` entry, without its ``$`` parameters."""
    flow = entry.get("flow", "") if isinstance(entry, dict) else str(entry)
    return " ".join(flow.partition("$")[0].split())


def colang_flows(folder: Path, found: Findings) -> set[str]:
    """The folder's Colang rail flows (a ``.co`` the parser refuses is the build's error)."""
    from langchain_guardrails.colang.loading import load_colang_folder

    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.co"))
    if not files:
        return set()
    try:
        program = load_colang_folder(folder)
    except ConfigError:
        return set()
    found.runs.append(
        f"Colang 1.0 rail flows ({', '.join(files)}): {', '.join(sorted(program.flows)) or 'none'}"
    )
    return set(program.flows)


_BLOCK_WORDS = frozenset(
    {
        "block",
        "blocked",
        "contain",
        "contains",
        "detect",
        "detected",
        "detects",
        "flag",
        "flagged",
        "violation",
        "violates",
        "unsafe",
        "harmful",
        "toxic",
        "jailbreak",
    }
)
_BLOCK_FIRST = frozenset({"check", "is", "has", "contains", "detect"})
_ALLOW_WORDS = frozenset({"allow", "allowed", "safe", "permitted", "ok", "valid", "pass", "clean"})


def suggests_blocking(name: str) -> bool:
    """Whether an action's name reads as "True = blocked" (``check_blocked_terms``,
    ``is_blocked``, ``contains_pii``, ``detect_jailbreak``) and not as "True = allowed"."""
    words = re.split(r"[\s_]+", name.lower().strip())
    if _ALLOW_WORDS.intersection(words):
        return False
    return bool(_BLOCK_WORDS.intersection(words)) or words[0] in _BLOCK_FIRST


def polarity(
    data: dict[str, Any], actions: Sequence[Any], colang: set[str], found: Findings
) -> None:
    """How the result of each NeMo action (of ``actions``, what ``actions.py`` defined) used
    directly as a flow name is read, and a warning when its name suggests the opposite (NeMo
    flows test ``if $is_blocked``: True = block)."""
    from langchain_guardrails.config.actions import spec_of
    from langchain_guardrails.config.nemo_actions import nemo_function

    specs = {s.name: s for s in map(spec_of, actions)}
    rails = data.get("rails") or {}
    for stage in ("input", "output", "tool_input", "tool_output"):
        section = rails.get(stage) or {}
        for entry in (section.get("flows") if isinstance(section, dict) else None) or ():
            name = flow_name(entry)
            spec = specs.get(name)
            function = nemo_function(spec) if spec is not None and name not in colang else None
            if function is None:
                continue
            meta = getattr(function, "action_meta", {}) or {}
            if meta.get("output_mapping") is not None:
                found.runs.append(
                    f"{stage} rail {name!r}: NeMo action from actions.py, read through its "
                    "output_mapping (mapping True = blocked)"
                )
                continue
            found.runs.append(
                f"{stage} rail {name!r}: NeMo action from actions.py used as a flow; its result "
                "is read as True = allowed, False = blocked"
            )
            if suggests_blocking(name):
                found.warnings.append(
                    f"{stage} rail {name!r}: its name suggests True means blocked (NeMo flows "
                    "test `if $is_blocked`), but as a flow name here True allows: call it from "
                    "a Colang flow (`$blocked = execute " + name + "` / `if $blocked` / `bot "
                    "...` / `stop`), or give it output_mapping, or return True for allowed"
                )


__all__ = ["Findings", "colang_flows", "flow_name", "polarity", "suggests_blocking"]
