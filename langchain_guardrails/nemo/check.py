"""``langchain-guardrails check --nemo FOLDER``: what of a NeMo Guardrails config will run.

For each config folder (``FOLDER`` itself, or each sub-folder holding a ``config.yml``), the
report lists what **runs** unchanged, what **maps** to something else here (engines, keys
loaded with a warning, instructions), and what is **unsupported** and why; then it builds the
config piece by piece as ``Guardrails`` would (:mod:`.folder_build`, without calling any
model) and lists **every** error that stops it, and a warning for each model that builds but
will fail closed at its first call. The verdict ``will run`` means no error and nothing
unsupported; a rail is listed under ``runs`` only when it built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from langchain_guardrails.config.rails_config import CONFIG_FILE_NAMES
from langchain_guardrails.engine.nemo_library import BY_FLOW, refusal_message
from langchain_guardrails.nemo.folder_build import FolderBuild, build_folder
from langchain_guardrails.nemo.polarity import (
    Findings,
    colang_flows,
    flow_name,
    polarity,
    suggests_blocking,
)

_MAPPED_ENGINES = {
    "nim": "ChatOpenAI against the NIM's OpenAI-compatible API (parameters.base_url)",
    "vllm_openai": "ChatOpenAI against the vLLM server (parameters.openai_api_base)",
    "nvidia_ai_endpoints": "ChatNVIDIA when installed, else ChatOpenAI against NVIDIA's API",
}


@dataclass
class FolderReport:
    """The verdict on one config folder."""

    folder: str
    runs: list[str] = field(default_factory=list)
    maps: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Every error that stops the folder from building (not only the first)."""
    warnings: list[str] = field(default_factory=list)
    """Models that build but whose first call will fail closed, and why."""

    @property
    def error(self) -> str | None:
        """The errors, one a line (None when there is none)."""
        return "\n".join(self.errors) or None

    @property
    def will_run(self) -> bool:
        """Whether the folder builds as it is: no error and nothing unsupported."""
        return not self.errors and not self.unsupported

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "folder": self.folder,
            "will_run": self.will_run,
            "runs": self.runs,
            "maps": self.maps,
            "unsupported": self.unsupported,
            "error": self.error,
            "errors": self.errors,
            "warnings": self.warnings,
        }

    def text(self) -> str:
        """Human-readable form."""
        verdict = "will run" if self.will_run else "will not run"
        if self.warnings:
            # "will run" is about building; the warnings say which calls will still fail.
            count = len(self.warnings)
            verdict += f" ({count} warning{'s' if count > 1 else ''})"
        lines = [f"{self.folder}: {verdict}"]
        lines += [f"  runs: {item}" for item in self.runs]
        lines += [f"  maps: {item}" for item in self.maps]
        lines += [f"  unsupported: {item}" for item in self.unsupported]
        lines += ["  error: " + e.replace("\n", "\n         ") for e in self.errors]
        lines += [f"  warning: {item}" for item in self.warnings]
        return "\n".join(lines)


def config_folders(root: Path) -> list[Path]:
    """``root`` if it holds a config, else its sub-folders that do (sorted)."""
    if any((root / name).is_file() for name in CONFIG_FILE_NAMES):
        return [root]
    return sorted(d for d in root.iterdir() if any((d / n).is_file() for n in CONFIG_FILE_NAMES))


def _raw(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for path in sorted(folder.glob("*.y*ml")):
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue  # the build below reports it with file and line
        if isinstance(loaded, dict):
            for key, value in loaded.items():
                if isinstance(value, list) and isinstance(data.get(key), list):
                    data[key] = data[key] + value
                else:
                    data.setdefault(key, value)
    return data


def _models(report: FolderReport, data: dict[str, Any]) -> None:
    from langchain_guardrails.llm.engines import ALIASES, pip_name, providers
    from langchain_guardrails.llm.registry import _ENGINES

    known_providers = providers()
    for model in data.get("models") or ():
        if not isinstance(model, dict):
            continue
        engine = str(model.get("engine", ""))
        label = f"model {model.get('type', '?')}: engine {engine}"
        if engine in _MAPPED_ENGINES:
            report.maps.append(f"{label} -> {_MAPPED_ENGINES[engine]}")
        elif engine in _ENGINES:
            report.runs.append(label)
        elif ALIASES.get(engine, engine) in known_providers:
            module = known_providers[ALIASES.get(engine, engine)][0]
            report.maps.append(f"{label} -> init_chat_model provider ({pip_name(module)})")
        else:
            report.unsupported.append(f"{label}: unknown engine")
        if "cache" in model:
            report.maps.append(f"model {model.get('type', '?')}: cache -> ignored (warning)")


def _flows(report: FolderReport, data: dict[str, Any], folder: Path, colang: set[str]) -> None:
    from langchain_guardrails.rails import BUILTIN_RAILS

    rails = data.get("rails") or {}
    has_actions = (folder / "actions.py").is_file()
    for stage in ("input", "output", "retrieval", "dialog"):
        section = rails.get(stage) or {}
        flows = section.get("flows") if isinstance(section, dict) else None
        for entry in flows or ():
            name = flow_name(entry)
            if stage in ("retrieval", "dialog"):
                report.unsupported.append(f"{stage} rail {name!r}: {stage} rails are not supported")
            elif name in colang:
                report.runs.append(f"{stage} rail {name!r} (Colang flow)")
            elif name in BUILTIN_RAILS:
                report.runs.append(f"{stage} rail {name!r}")
            elif name in BY_FLOW:
                report.unsupported.append(refusal_message(name))
            elif has_actions:
                report.runs.append(f"{stage} rail {name!r} (an action from actions.py)")
            else:
                report.unsupported.append(f"{stage} rail {name!r}: unknown flow")


def check_folder(folder: Path) -> FolderReport:
    """The report of one config folder (see the module docstring)."""
    report = FolderReport(str(folder))
    found = Findings()
    colang = colang_flows(folder, found)
    data = _raw(folder)
    _models(report, data)
    _flows(report, data, folder, colang)
    built = build_folder(folder)
    polarity(data, built.actions, colang, found)
    report.runs += found.runs
    instructions = data.get("instructions") or ()
    if any(isinstance(i, dict) and i.get("type") == "general" for i in instructions):
        report.maps.append("instructions (type general) -> system message of main-model calls")
    if data.get("prompts"):
        report.runs.append(f"task prompts ({len(data['prompts'])}), rendered by sandboxed Jinja2")
    _add_build(report, built)
    report.warnings += found.warnings
    return report


def _add_build(report: FolderReport, found: FolderBuild) -> None:
    """The piece-by-piece build's findings, without repeating what ``unsupported`` says and
    without listing under ``runs`` a rail that did not build."""
    failed = {
        f"{stage} rail {flow!r}": error for (stage, flow), error in found.failed_flows.items()
    }
    failed |= {f"model {kind}: ": error for kind, error in found.failed_models.items()}
    # A model whose every call will fail does not run either (its warning says why).
    failing = {f"model {kind}: " for kind in found.failing_models}
    # "input rail 'x'" and "input rail 'x' (an action ...)": a failed rail is neither.
    report.runs = [
        item for item in report.runs if not any(item.startswith(f) for f in (*failed, *failing))
    ]
    said = {
        error
        for label, error in failed.items()
        if any(u.startswith(label) or error.endswith(u) for u in report.unsupported)
    }
    report.errors = [e for e in found.errors if e not in said]
    report.warnings = found.warnings
    report.maps += [f"{note} (warning)" for note in found.notes if "cache" not in note]


__all__ = ["FolderReport", "check_folder", "config_folders", "suggests_blocking"]
