"""Several server processes on one port (``langchain-guardrails server --workers N``).

uvicorn starts each worker as a fresh process that imports the app by name, so the settings of
``create_app`` travel in an environment variable (JSON), as does the header deadline of the
HTTP protocol. The server keeps no state between requests; limits that must hold across the
workers use Redis (``--redis-url``). The workers share a folder (one per server, made by the
CLI) for their metrics and for reloads (:mod:`.fleet`).

The supervisor is uvicorn's, with three changes: ``SIGHUP`` asks every worker to reload (a new
config version that does not build never replaces a working one) instead of restarting them,
and ``SIGTERM``/``SIGINT`` close the parent's copy of the listening socket at once, so that new
connections are refused while the workers drain instead of waiting in the backlog unserved.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

from fastapi import FastAPI

from langchain_guardrails.server.operations.http_protocol import header_timeout_protocol

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
    from langchain_guardrails.server import create_app

    settings = json.loads(os.environ[SETTINGS_ENV])
    rail_threads = settings.pop("rail_threads", None)
    log_format = settings.pop("log_format", "text")
    if rail_threads is not None:
        from langchain_guardrails.rails.executor import configure_rail_executor

        configure_rail_executor(rail_threads)
    from langchain_guardrails.server.operations.log_setup import log_server_to_stderr

    log_server_to_stderr(json_lines=log_format == "json")
    return create_app(**settings)


def run_workers(config: Any, state_dir: Path) -> None:
    """Serve ``config`` (a ``uvicorn.Config`` with ``workers > 1``) with the supervisor above.

    Example:
        .. code-block:: python

            run_workers(uvicorn.Config(APP, factory=True, workers=2, http=PROTOCOL), folder)
    """
    from uvicorn.supervisors import Multiprocess

    from langchain_guardrails.server.fleet import bump_generation

    logger = logging.getLogger("uvicorn.error")

    class Supervisor(Multiprocess):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._stop_now)

        def _stop_now(self, sig: int, frame: FrameType | None) -> None:
            # In the handler, not half a second later in the supervisor's loop: once every
            # process has closed its copy, the kernel refuses new connections.
            for sock in self.sockets:
                sock.close()
            self.signal_queue.append(sig)
            self.should_exit.set()

        def handle_hup(self) -> None:
            logger.info("Received SIGHUP, reloading the configs of every worker.")
            bump_generation(state_dir)

    sock = config.bind_socket()
    Supervisor(config, sockets=[sock]).run()
