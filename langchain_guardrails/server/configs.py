"""The configs a server may serve: names checked against one folder, loaded once, cached.

A ``config_id`` is only ever a *name* looked up among the config folders found under the
configs path; it is never joined onto a path. Folders (or files in them) that resolve outside
the configs path, e.g. through a symlink, are not served.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from langchain_guardrails.config.action_isolation import ActionsFileError
from langchain_guardrails.config.rails_config import CONFIG_FILE_NAMES, RailsConfig
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.server.operations.action_probe import probe_actions_file
from langchain_guardrails.server.upstream.client import fast_upstream_model

logger = logging.getLogger("langchain_guardrails.server")

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_LOADED_FILES = ("*.yml", "*.yaml", "actions.py")


class UnknownConfigError(LookupError):
    """The requested ``config_id`` is not one of the served configs."""

    def __init__(self, config_id: str, known: list[str]) -> None:
        shown = ", ".join(known) if known else "(none)"
        super().__init__(f"Unknown config_id {config_id!r}; known config ids: {shown}")
        self.config_id = config_id
        self.known = known


class ConfigRegistry:
    """Config folders under one path, by name, with a bounded cache of built ``Guardrails``.

    ``path`` is either a folder of config folders (each with a ``config.yml``; the folder name
    is the ``config_id``) or a single config folder (served under its own name).
    One :class:`Guardrails` per config is shared by all requests: it is concurrency-safe.

    Example:
        .. code-block:: python

            registry = ConfigRegistry("examples/configs", cache_size=8)
            registry.ids()                 # ["streaming", ...]
            guarded = registry.get("streaming")
    """

    def __init__(
        self,
        path: str | Path,
        *,
        cache_size: int = 16,
        allow_actions: bool = True,
        fast_path: bool = False,
    ) -> None:
        root = Path(path)
        if not root.is_dir():
            raise ConfigError(f"{root}: no such config folder")
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1 (got {cache_size})")
        self.root = root.resolve()
        self.single = _config_file(self.root) is not None
        self.cache_size = cache_size
        self.allow_actions = allow_actions
        """``False`` refuses config folders that carry Python code (``actions.py``)."""
        self.fast_path = fast_path
        """Build ``engine: openai`` main models as the light upstream client."""
        self._cache: OrderedDict[str, Guardrails | _Broken] = OrderedDict()
        self._stamps: dict[str, tuple[tuple[str, int, int], ...]] = {}
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}

    def ids(self) -> list[str]:
        """The config ids that can be served, sorted (the folders are rescanned each call)."""
        if self.single:
            return [self.root.name]
        found = []
        try:
            entries = list(self.root.iterdir())
        except OSError:
            return []
        for entry in entries:
            if _NAME.fullmatch(entry.name) and self._servable(entry):
                found.append(entry.name)
        return sorted(found)

    def is_known(self, config_id: str) -> bool:
        """Whether ``config_id`` is a served config (cached ones without a folder scan)."""
        with self._lock:
            if config_id in self._cache:
                return True
        return config_id in self.ids()

    def folder(self, config_id: str) -> Path:
        """The folder of ``config_id``; :class:`UnknownConfigError` unless it is a served name."""
        if self.single and config_id == self.root.name:
            return self.root
        # Membership in the scanned names, not a path join, decides what may be read.
        if not self.single and _NAME.fullmatch(config_id) and config_id in self.ids():
            return self.root / config_id
        raise UnknownConfigError(config_id, self.ids())

    def get(self, config_id: str) -> Guardrails:
        """The ``Guardrails`` of ``config_id``, built on first use (blocking: config folders
        may run ``actions.py``; call it from a worker thread in async code). A config that
        fails to build is remembered as broken, so requests for it do not rebuild it.

        Raises:
            UnknownConfigError: ``config_id`` is not served.
            ConfigError: the config folder is broken (``MissingExtraError`` when it needs an
                extra that is not installed).
        """
        entry = self._lookup(config_id)
        if entry is None:
            folder = self.folder(config_id)
            with self._loading(config_id):
                # Another request may have built it while this one waited.
                entry = self._lookup(config_id)
                if entry is None:
                    stamp = _stamp(folder)
                    entry = self._build(config_id, folder)
                    self._store(config_id, entry, stamp)
        if isinstance(entry, _Broken):
            raise entry.error
        return entry

    def import_actions(self) -> None:
        """Build every config that carries an ``actions.py`` now (blocking), so a bad file
        fails before traffic: server start-up calls this.

        Raises:
            ActionsFileError: an ``actions.py`` fails to import, ends the process in the
                probe, or changes objects every config shares (the message names the file).
        """
        if not self.allow_actions:
            return  # such configs are refused (--no-actions)
        for config_id in self.ids():
            if (self.folder(config_id) / "actions.py").is_file():
                try:
                    self.get(config_id)
                except ActionsFileError:
                    raise
                except (ConfigError, ImportError):
                    pass  # other errors: served as a broken config, as before

    def errors(self) -> dict[str, str]:
        """Short errors (no paths) of the configs known to be broken, by config id."""
        with self._lock:
            entries = list(self._cache.items())
        return {cid: e.summary for cid, e in entries if isinstance(e, _Broken)}

    def reload(self) -> ReloadReport:
        """Rebuild the configs whose files changed since they were built (blocking).

        A config whose new version is broken keeps serving its old version (the error is
        reported); a config that was broken and is now fixed serves again.

        Example:
            .. code-block:: python

                report = registry.reload()
                report.reloaded, report.errors
        """
        report = ReloadReport()
        known = set(self.ids())
        with self._lock:
            cached = sorted(self._cache.items(), key=lambda item: item[0])
        for config_id, old in cached:
            if config_id not in known:
                with self._lock:
                    self._cache.pop(config_id, None)
                    self._stamps.pop(config_id, None)
                report.removed.append(config_id)
                continue
            folder = self.folder(config_id)
            stamp = _stamp(folder)
            with self._loading(config_id):
                if stamp == self._stamps.get(config_id):
                    report.unchanged.append(config_id)
                    continue
                new = self._build(config_id, folder)
                if isinstance(new, _Broken) and isinstance(old, Guardrails):
                    report.errors[config_id] = new.summary
                    continue  # the old version keeps serving
                self._store(config_id, new, stamp)
                if isinstance(new, _Broken):
                    report.errors[config_id] = new.summary
                else:
                    report.reloaded.append(config_id)
        return report

    def _build(self, config_id: str, folder: Path) -> Guardrails | _Broken:
        """Build one config; every failure (even ``SystemExit`` from its code) is its own."""
        try:
            if not self.allow_actions and (folder / "actions.py").exists():
                raise ConfigError(
                    f"config {config_id!r} carries Python code (actions.py) and the server "
                    "runs with --no-actions"
                )
            if self.allow_actions and (folder / "actions.py").is_file():
                # Code that ends the process (os._exit) fails this config, not the server.
                probe_actions_file(folder / "actions.py")
            config = RailsConfig.from_path(folder)
            fast = fast_upstream_model(config) if self.fast_path else None
            if fast is not None:
                return Guardrails(config=config, llm=fast)
            return Guardrails(config=config)
        except (Exception, SystemExit) as exc:
            shown = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
            logger.warning("config %r is not served: %s", config_id, shown)
            if isinstance(exc, ConfigError | ImportError):
                error: Exception = exc
            else:
                error = ConfigError(f"config {config_id!r} failed to load: {type(exc).__name__}")
                error.__cause__ = exc
            return _Broken(error, config_id)

    def _store(
        self, config_id: str, entry: Guardrails | _Broken, stamp: tuple[tuple[str, int, int], ...]
    ) -> None:
        with self._lock:
            self._cache[config_id] = entry
            self._stamps[config_id] = stamp
            self._cache.move_to_end(config_id)
            while len(self._cache) > self.cache_size:
                evicted, _ = self._cache.popitem(last=False)
                self._stamps.pop(evicted, None)

    def cached(self, config_id: str) -> Guardrails | None:
        """The already built ``Guardrails`` of ``config_id``, if cached (never loads)."""
        entry = self._lookup(config_id)
        return entry if isinstance(entry, Guardrails) else None

    def _lookup(self, config_id: str) -> Guardrails | _Broken | None:
        with self._lock:
            entry = self._cache.get(config_id)
            if entry is not None:
                self._cache.move_to_end(config_id)
            return entry

    def _loading(self, config_id: str) -> threading.Lock:
        with self._lock:
            return self._load_locks.setdefault(config_id, threading.Lock())

    def _servable(self, folder: Path) -> bool:
        try:
            resolved = folder.resolve(strict=True)
        except (OSError, RuntimeError):
            return False
        if not resolved.is_dir() or not resolved.is_relative_to(self.root):
            return False
        if _config_file(resolved) is None:
            return False
        # RailsConfig.from_path reads every YAML file and actions.py of the folder.
        for pattern in _LOADED_FILES:
            for file in resolved.glob(pattern):
                try:
                    inside = file.resolve(strict=True).is_relative_to(self.root)
                except (OSError, RuntimeError):
                    return False
                if not inside:
                    return False
        return True


@dataclass
class ReloadReport:
    """What :meth:`ConfigRegistry.reload` did."""

    reloaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    """Short errors of configs whose new version is broken (their old version still serves)."""


class _Broken:
    __slots__ = ("error", "summary")

    def __init__(self, error: Exception, config_id: str) -> None:
        self.error = error
        # Clients see this: the config id and the kind of failure, never paths or config text.
        kind = "a missing extra" if isinstance(error, ImportError) else type(error).__name__
        self.summary = f"config {config_id!r} could not be loaded ({kind}); see the server log"


def _stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and mtime of each file a config is built from (to notice changes)."""
    stamps = []
    for pattern in _LOADED_FILES:
        for file in sorted(folder.glob(pattern)):
            try:
                stat = file.stat()
            except OSError:
                continue
            stamps.append((file.name, stat.st_size, stat.st_mtime_ns))
    return tuple(stamps)


def _config_file(folder: Path) -> Path | None:
    return next((folder / n for n in CONFIG_FILE_NAMES if (folder / n).is_file()), None)
