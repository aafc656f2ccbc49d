"""NeMo Guardrails keys that load with a warning: they do not change what rails decide.

Unknown keys stay errors (naming the key, the file and the line). These are keys NeMo
accepts whose job has no counterpart here and whose absence changes no decision: a model's
``cache``, tracing and logging settings, NeMo's embedding search, and dialog, retrieval or
action rails sections that enable nothing. Each is dropped with a
:class:`NemoKeyWarning` naming it; anything that would enable dialog behaviour is kept, so the
config validation refuses it as before.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

TOP_LEVEL: dict[str, str] = {
    "passthrough": "every call here goes straight to the model: there are no dialog rails",
    "tracing": "use LangChain callbacks / LangSmith for tracing",
    "core": "NeMo's embedding settings for dialog rails",
    "embedding_search_provider": "NeMo's embedding search serves dialog rails",
    "enable_multi_step_generation": "a dialog-rails setting",
    "custom_data": "custom actions read their settings from their own code here",
    "import_paths": "NeMo flow libraries are Colang, which is not supported",
    "knowledge_base": (
        "NeMo's knowledge base feeds retrieval and $relevant_chunks, which are not built "
        "here; pass evidence as system or tool messages"
    ),
    "messages": "not a NeMo Guardrails config key either: NeMo ignores it too",
}
"""Top-level keys dropped with a warning, and why they are harmless."""

_DIALOG_SWITCHES = ("enabled",)


class NemoKeyWarning(UserWarning):
    """A NeMo Guardrails key was accepted but has no effect here."""


Where = Callable[[tuple[str | int, ...]], str]
"""``file:line`` of a key path (``Located.where``)."""


def _warn(path: tuple[str | int, ...], why: str, where: Where) -> None:
    key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
    warnings.warn(
        f"{where(path)}: {key}: NeMo Guardrails key ignored by langchain_guardrails ({why})",
        NemoKeyWarning,
        stacklevel=4,
    )


def _enables_something(value: Any) -> bool:
    """Whether a dialog/retrieval section turns anything on (a true ``enabled`` or any
    non-empty list of flows)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in _DIALOG_SWITCHES and item:
                return True
            if key == "flows" and item:
                return True
            if isinstance(item, Mapping | list) and _enables_something(item):
                return True
        return False
    if isinstance(value, list):
        return any(_enables_something(item) for item in value)
    return False


def accept_nemo_keys(data: Mapping[str, Any], where: Where) -> dict[str, Any]:
    """A copy of the config ``data`` without the harmless NeMo keys (one warning each).

    Example:
        .. code-block:: python

            accept_nemo_keys({"passthrough": True, "rails": {}}, located.where)  # {"rails": {}}
    """
    out = dict(data)
    for key, why in TOP_LEVEL.items():
        if key in out:
            del out[key]
            _warn((key,), why, where)
    models = out.get("models")
    if isinstance(models, list):
        cleaned = []
        for index, model in enumerate(models):
            if isinstance(model, Mapping) and "cache" in model:
                model = {k: v for k, v in model.items() if k != "cache"}
                _warn(("models", index, "cache"), "rail verdicts are not cached here", where)
            cleaned.append(model)
        out["models"] = cleaned
    rails = out.get("rails")
    if isinstance(rails, Mapping):
        rails = dict(rails)
        for section in ("dialog", "retrieval", "actions"):
            if section in rails and not _enables_something(rails[section]):
                del rails[section]
                _warn(("rails", section), "it enables nothing", where)
        out["rails"] = rails
    return out


__all__ = ["TOP_LEVEL", "NemoKeyWarning", "accept_nemo_keys"]
