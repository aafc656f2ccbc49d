"""The one place the evaluation meets ``Guardrails``: which rails a config has per stage,
copies of a config with some of them only, and the call that checks one example.

Tool stages (``tool_output`` / ``tool_input``) are checked with
``acheck(..., stage=..., tool_call=...)``; a config (or a ``Guardrails``) without them reports
their examples as "stage not supported by this config".
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig

from langchain_guardrails.config.rails_config import FlowSpec, RailsConfig
from langchain_guardrails.engine.results import RailCheck
from langchain_guardrails.eval.dataset import Example

Flow = str | FlowSpec
NOT_SUPPORTED = "stage not supported by this config"


class StageNotSupported(Exception):
    """Raised for a tool-stage example when the installed ``Guardrails`` cannot check it."""


def flow_name(flow: Flow) -> str:
    """The flow as written in ``config.yml`` (the rail's name in reports)."""
    return flow.flow if isinstance(flow, FlowSpec) else flow


def stage_flows(config: RailsConfig, stage: str) -> list[Flow] | None:
    """The flows of ``rails.<stage>``; ``None`` when the config has no such stage.

    Example:
        .. code-block:: python

            stage_flows(config, "input")  # ["regex check input"]
    """
    section = getattr(config.rails, stage, None)
    flows = getattr(section, "flows", None)
    return list(flows) if flows is not None else None


def with_flows(config: RailsConfig, stage: str, flows: Sequence[Flow]) -> RailsConfig:
    """A copy of ``config`` whose ``stage`` runs ``flows`` only and other stages run nothing
    (the caller's config is not touched).

    Example:
        .. code-block:: python

            only = with_flows(config, "output", ["regex check output"])
    """
    rails = config.rails
    updates: dict[str, Any] = {}
    for name in ("input", "output", "tool_output", "tool_input"):
        section = getattr(rails, name, None)
        if section is not None and hasattr(section, "flows"):
            chosen = list(flows) if name == stage else []
            updates[name] = section.model_copy(update={"flows": chosen})
    return config.model_copy(update={"rails": rails.model_copy(update=updates)})


def supports_stage(guarded: Any, stage: str) -> bool:
    """Whether ``guarded.acheck`` can check examples of ``stage``."""
    if stage in ("input", "output"):
        return True
    parameters = inspect.signature(guarded.acheck).parameters
    takes_stage = {"stage", "tool_call"} <= set(parameters)
    return takes_stage and stage_flows(guarded.config, stage) is not None


async def check_example(guarded: Any, example: Example, config: RunnableConfig) -> RailCheck:
    """Run the rails of ``example.stage`` on it through ``Guardrails.acheck``.

    Example:
        .. code-block:: python

            result = await check_example(guarded, example, {"callbacks": []})
            result.status  # "passed", "modified" or "blocked"
    """
    if example.stage == "input":
        result: RailCheck = await guarded.acheck(example.input, config=config)
        return result
    if example.stage == "output":
        result = await guarded.acheck(example.input, output=example.output, config=config)
        return result
    if not supports_stage(guarded, example.stage):
        raise StageNotSupported(NOT_SUPPORTED)
    tool_call = dict(example.tool_call) if example.tool_call is not None else None
    result = await guarded.acheck(
        example.input,
        output=example.output,
        stage=example.stage,
        tool_call=tool_call,
        config=config,
    )
    return result


__all__ = [
    "NOT_SUPPORTED",
    "StageNotSupported",
    "check_example",
    "flow_name",
    "stage_flows",
    "supports_stage",
    "with_flows",
]
