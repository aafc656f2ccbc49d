"""Several server processes on one port (``langchain-guardrails server --workers N``).

uvicorn starts each worker as a fresh process that imports the app by name, so the settings of
``create_app`` travel in an environment variable (JSON), as does the header deadline of the
HTTP protocol. The server keeps no state between requests; limits that must hold across the
workers use Redis (``--redis-url``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import FastAPI

from .protocol import header_timeout_protocol

SETTINGS_ENV = "LANGCHAIN_GUARDRAILS_SERVER_SETTINGS"
"""JSON object of ``create_app`` keyword arguments (plus ``rail_threads``, ``log_format``)."""
HEADER_TIMEOUT_ENV = "LANGCHAIN_GUARDRAILS_HEADER_TIMEOUT"

APP = "langchain_guardrails.server.workers:app_from_env"
"""What uvicorn imports in each worker (a factory)."""
PROTOCOL = "langchain_guardrails.server.workers:HeaderTimeoutProtocol"

HeaderTimeoutProtocol = header_timeout_protocol(float(os.environ.get(HEADER_TIMEOUT_ENV, "10")))
"""The HTTP protocol of every worker, with the header deadline the CLI was given."""


def worker_environment(settings: dict[str, Any], header_timeout: float) -> dict[str, str]:
    """The environment variables that carry ``settings`` to the workers.

    Example:
        .. code-block:: python

            os.environ.update(worker_environment({"config_path": "configs"}, 10.0))
    """
    return {SETTINGS_ENV: json.dumps(settings), HEADER_TIMEOUT_ENV: str(header_timeout)}


def app_from_env() -> FastAPI:
    """The app of one worker, built from :data:`SETTINGS_ENV`.

    Example:
        .. code-block:: python

            uvicorn.run(APP, factory=True, workers=2, http=PROTOCOL)
    """
    from . import create_app

    settings = json.loads(os.environ[SETTINGS_ENV])
    rail_threads = settings.pop("rail_threads", None)
    log_format = settings.pop("log_format", "text")
    if rail_threads is not None:
        from ..rail_executor import configure_rail_executor

        configure_rail_executor(rail_threads)
    from ..cli import _log_server_to_stderr

    _log_server_to_stderr(json_lines=log_format == "json")
    return create_app(**settings)
