"""The configs a server may serve: names checked against one folder, loaded once, cached.

A ``config_id`` is only ever a *name* looked up among the config folders found under the
configs path; it is never joined onto a path. Folders (or files in them) that resolve outside
the configs path, e.g. through a symlink, are not served.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path

from ..config import CONFIG_FILE_NAMES, RailsConfig
from ..errors import ConfigError
from ..runnable import Guardrails

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

    def __init__(self, path: str | Path, *, cache_size: int = 16) -> None:
        root = Path(path)
        if not root.is_dir():
            raise ConfigError(f"{root}: no such config folder")
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1 (got {cache_size})")
        self.root = root.resolve()
        self.single = _config_file(self.root) is not None
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Guardrails | _Broken] = OrderedDict()
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
                    try:
                        entry = Guardrails(config=RailsConfig.from_path(folder))
                    except (ConfigError, ImportError) as exc:
                        entry = _Broken(exc)
                    with self._lock:
                        self._cache[config_id] = entry
                        while len(self._cache) > self.cache_size:
                            self._cache.popitem(last=False)
        if isinstance(entry, _Broken):
            raise entry.error
        return entry

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


class _Broken:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _config_file(folder: Path) -> Path | None:
    return next((folder / n for n in CONFIG_FILE_NAMES if (folder / n).is_file()), None)
