"""LangServe routes for a guarded config: invoke, batch, stream, stream_events, playground."""

from __future__ import annotations

from typing import Any

from ..errors import require
from ..runnable import Guardrails

ENDPOINTS = (
    "invoke",
    "batch",
    "stream",
    "stream_events",
    "playground",
    "input_schema",
    "output_schema",
    "config_schema",
)
"""Mounted endpoints. ``stream_log`` is left out: it is a debugging view of every inner run."""


def add_config_routes(app: Any, guarded: Guardrails, config_id: str) -> None:
    """Mount LangServe's ``add_routes`` for ``guarded`` at ``/configs/{config_id}``.

    ``/stream_events`` shows only released text: in hold-back mode ``Guardrails`` keeps raw
    model tokens and rail inputs out of the callback events LangServe turns into stream events.

    Example:
        .. code-block:: python

            add_config_routes(app, Guardrails(config=config), "streaming")
            # RemoteRunnable("http://127.0.0.1:8000/configs/streaming").astream("Hi")
    """
    langserve = require("langserve", "serve")
    langserve.add_routes(
        app,
        guarded,
        path=f"/configs/{config_id}",
        enabled_endpoints=list(ENDPOINTS),
    )
