"""Structured output of a guarded model (``with_structured_output``): the parser runs on an
answer that passed the rails, never on a refusal or on unchecked text."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config, run_in_executor


async def parse_structured(
    after: Runnable[Any, Any],
    message: AIMessage,
    config: RunnableConfig | None,
    *,
    include_raw: bool,
    sync_model: bool,
) -> Any:
    """Structured output: the parser runs on a passed answer only, never on a refusal."""
    if message.response_metadata.get("guardrails", {}).get("blocked"):
        if include_raw:
            return {"raw": message, "parsed": None, "parsing_error": None}
        return message
    config = patch_config(config, run_name=None) if config else None
    if not include_raw:
        if sync_model:
            return await run_in_executor(config, after.invoke, message, config)
        return await after.ainvoke(message, config)
    try:
        if sync_model:
            parsed = await run_in_executor(config, after.invoke, message, config)
        else:
            parsed = await after.ainvoke(message, config)
    except Exception as exc:
        return {"raw": message, "parsed": None, "parsing_error": exc}
    return {"raw": message, "parsed": parsed, "parsing_error": None}
