"""Config reloads that reach every worker of a server, and the app's lifespan.

With ``--workers N`` a request (or ``SIGHUP`` to the server) reaches one process only. A
reload therefore bumps a *generation* number in the server's shared folder (made by the CLI,
one per server); every worker checks it every :data:`POLL_SECONDS` and reloads when it moved,
then acknowledges the generation it serves in a file of its own. ``POST
/v1/rails/configs/reload`` answers once every live worker serves the new generation (or after
:data:`ACK_TIMEOUT` s), and says how many do. A config whose new version does not build keeps
serving its old version in every worker; the error is logged and listed by
``GET /v1/rails/configs``.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from langchain_guardrails.server.configs import ConfigRegistry, ReloadReport
from langchain_guardrails.server.operations.drain import Drain
from langchain_guardrails.server.operations.key_limits import settle_releases
from langchain_guardrails.server.operations.telemetry import alive

logger = logging.getLogger("langchain_guardrails.server")

STATE_ENV = "LANGCHAIN_GUARDRAILS_STATE_DIR"
"""The shared folder of a multi-worker server (set by the CLI)."""
POLL_SECONDS = 0.1
ACK_TIMEOUT = 20.0


def bump_generation(folder: Path) -> int:
    """Ask every worker sharing ``folder`` to reload; returns the new generation.

    Example:
        .. code-block:: python

            bump_generation(Path(os.environ[STATE_ENV]))  # what SIGHUP to the server does
    """
    with open(folder / "generation.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two reloads at once get two generations
        generation = read_generation(folder) + 1
        _write(folder / "generation", str(generation))
    return generation


def read_generation(folder: Path) -> int:
    """The reload generation workers sharing ``folder`` should serve (0: none yet)."""
    try:
        return int((folder / "generation").read_text())
    except (OSError, ValueError):
        return 0


def _write(path: Path, text: str) -> None:
    # Readers see the old file or the new one, never half of one.
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    os.replace(partial, path)


class Reloader:
    """Reloads the configs of this worker, and (with ``folder``) of every worker of the server.

    Example:
        .. code-block:: python

            reloader = Reloader(registry, folder=None)   # one process
            answer = await reloader.reload_all()
    """

    def __init__(self, registry: ConfigRegistry, folder: Path | None) -> None:
        self.registry = registry
        self.folder = folder
        self.failed: dict[str, str] = {}
        """Configs whose new version did not build at the last reload (the old one serves)."""
        self._seen = read_generation(folder) if folder is not None else 0
        self._last = ReloadReport()
        self._lock: asyncio.Lock | None = None

    async def reload_all(self) -> dict[str, Any]:
        """Reload every worker; the answer of ``POST /v1/rails/configs/reload``."""
        if self.folder is None:
            report = await self._reload_here()
            return {**_fields(report), "workers": {"total": 1, "reloaded": 1}}
        target = bump_generation(self.folder)
        report = await self.follow()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACK_TIMEOUT
        while True:
            members = self.members()
            done = sum(generation >= target for generation in members.values())
            if done == len(members) or loop.time() > deadline:
                break
            await asyncio.sleep(POLL_SECONDS / 2)
        if done < len(members):
            logger.warning("reload: %d of %d workers did not answer", len(members) - done,
                           len(members))  # fmt: skip
        return {**_fields(report), "workers": {"total": len(members), "reloaded": done}}

    async def follow(self) -> ReloadReport:
        """Reload if the shared generation moved; the report of the last reload."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            assert self.folder is not None
            target = read_generation(self.folder)
            if target > self._seen:
                self._last = await self._reload_here()
                self._seen = target
                self.announce()
            return self._last

    async def _reload_here(self) -> ReloadReport:
        report = await asyncio.to_thread(reload_registry, self.registry)
        self.failed = dict(report.errors)
        return report

    def announce(self) -> None:
        """Tell the other workers which generation this one serves."""
        if self.folder is not None:
            (self.folder / "workers").mkdir(exist_ok=True)
            _write(self.folder / "workers" / f"{os.getpid()}.json", json.dumps(self._seen))

    def leave(self) -> None:
        """This worker stops: the others no longer wait for it."""
        if self.folder is not None:
            with suppress(OSError):
                (self.folder / "workers" / f"{os.getpid()}.json").unlink()

    def members(self) -> dict[int, int]:
        """The generation each live worker serves, by pid (files of dead workers are removed)."""
        assert self.folder is not None
        found: dict[int, int] = {}
        for file in (self.folder / "workers").glob("*.json"):
            pid = int(file.stem) if file.stem.isdigit() else 0
            if pid <= 0 or not alive(pid):
                with suppress(OSError):
                    file.unlink()
                continue
            try:
                found[pid] = int(json.loads(file.read_text()))
            except (OSError, ValueError):
                found[pid] = 0
        return found

    async def poll(self) -> None:
        """Follow the shared generation for as long as the worker runs."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.follow()
            except Exception:  # a bad moment of the file system: the next poll retries
                logger.exception("reload: could not follow the shared generation")


def reload_registry(registry: ConfigRegistry) -> ReloadReport:
    """Reload ``registry`` (blocking) and log what happened."""
    report = registry.reload()
    for error in report.errors.values():
        logger.warning("reload: %s (the previous version keeps serving)", error)
    if report.reloaded:
        logger.info("reloaded configs: %s", ", ".join(report.reloaded))
    return report


def _fields(report: ReloadReport) -> dict[str, Any]:
    return {
        "reloaded": report.reloaded,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "errors": report.errors,
    }


def server_lifespan(
    reloader: Reloader, drain: Drain, reload_on_sighup: bool
) -> Callable[[Any], Any]:
    """The app's lifespan: SIGHUP reloads (every worker), the drain hears SIGTERM, a worker
    follows reloads of the others, and slot releases finish before the loop closes."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[Any]] = set()

        def on_hup() -> None:
            task = loop.create_task(reloader.reload_all())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        if reload_on_sighup:
            loop.add_signal_handler(signal.SIGHUP, on_hup)
        restore = drain.watch_signals()
        poller = None
        if reloader.folder is not None:
            reloader.announce()
            poller = loop.create_task(reloader.poll())
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
            reloader.leave()
            restore()
            if reload_on_sighup:
                loop.remove_signal_handler(signal.SIGHUP)
            await settle_releases()

    return lifespan
