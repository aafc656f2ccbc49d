"""Local transformers models for rails (``hf`` extra): found in a configured folder, loaded once
per process, and run by one worker thread per model that batches concurrent requests.

One worker per model keeps memory flat however many streams are open (the model is never
copied) and keeps a model's tokenizer on one thread (fast tokenizers are not safe to call from
several threads at once). Requests that arrive while the model is busy are run together in
the next batch, so 50 concurrent streams cost a few batched calls, not 50 calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import json
import queue
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError, MissingExtraError

T = TypeVar("T")
R = TypeVar("R")


def require_hf() -> None:
    """Fail early (when the ``Guardrails`` object is built) if the ``hf`` extra is missing,
    without importing transformers yet."""
    for module in ("transformers", "torch"):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(module, "hf")


def model_folder(config: RailsConfig, path: str | None, key: str, rail: str) -> Path:
    """The local model folder of ``rails.config.<key>.model_path`` (relative to the config
    folder), checked to exist; nothing is ever downloaded."""
    if not path:
        raise ConfigError(
            f"{rail!r} needs rails.config.{key}.model_path: a local folder with a "
            "transformers model (nothing is downloaded)"
        )
    folder = Path(path).expanduser()
    if not folder.is_absolute() and config.config_path:
        folder = Path(config.config_path) / folder
    if not folder.is_dir():
        raise ConfigError(
            f"rails.config.{key}.model_path: {folder} does not exist or is not a folder "
            "(a local transformers model folder is needed; nothing is downloaded)"
        )
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"rails.config.{key}.model_path: {folder} has no config.json, so it is not a "
            "transformers model folder (save one with save_pretrained)"
        )
    return folder


def model_labels(folder: Path) -> list[str]:
    """The labels of a classification model, read from its ``config.json`` (no torch)."""
    try:
        data = json.loads((folder / "config.json").read_text("utf-8"))
        id2label = data.get("id2label")
        if isinstance(id2label, dict) and id2label:
            return [str(id2label[k]) for k in sorted(id2label, key=lambda k: int(k))]
        return [f"LABEL_{i}" for i in range(int(data.get("num_labels", 2)))]
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"{folder / 'config.json'}: cannot read the model's labels: {exc}"
        ) from exc


@dataclass(slots=True)
class _Job(Generic[T, R]):
    items: Sequence[T]
    future: concurrent.futures.Future[list[R]] = field(default_factory=concurrent.futures.Future)


class BatchWorker(Generic[T, R]):
    """Runs ``load()``'s function on batches of items from any thread or event loop.

    ``load`` runs on the worker thread at the first request (and again after a failed load);
    it returns ``run(items) -> results`` (one result per item, in order).

    Example:
        .. code-block:: python

            worker = BatchWorker(lambda: (lambda texts: [len(t) for t in texts]), batch_size=8)
            await worker.run(["a", "bb"])  # [1, 2]
    """

    def __init__(
        self,
        load: Callable[[], Callable[[list[T]], list[R]]],
        *,
        batch_size: int,
        name: str = "langchain-guardrails-model",
    ) -> None:
        self._load = load
        self._run: Callable[[list[T]], list[R]] | None = None
        self.batch_size = batch_size
        self.name = name
        self._queue: queue.SimpleQueue[_Job[T, R]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.loads = 0
        """How many times the model was loaded (1 in a healthy process)."""
        self.calls = 0
        """How many batched calls the model made."""
        self.largest_batch = 0

    def submit(self, items: Sequence[T]) -> concurrent.futures.Future[list[R]]:
        """Queue ``items``; the future gets their results."""
        job: _Job[T, R] = _Job(items)
        self._queue.put(job)
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
                    self._thread.start()
        return job.future

    async def run(self, items: Sequence[T]) -> list[R]:
        """Await the results of ``items`` (cancelling the await drops the request if unstarted)."""
        if not items:
            return []
        return await asyncio.wrap_future(self.submit(items))

    def _serve(self) -> None:
        while True:
            jobs = [self._queue.get()]
            size = len(jobs[0].items)
            while size < self.batch_size:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                size += len(jobs[-1].items)
            live = [job for job in jobs if job.future.set_running_or_notify_cancel()]
            if live:
                self._serve_batch(live)

    def _serve_batch(self, jobs: list[_Job[T, R]]) -> None:
        items = [item for job in jobs for item in job.items]
        try:
            if self._run is None:
                self.loads += 1
                self._run = self._load()
            self.calls += 1
            self.largest_batch = max(self.largest_batch, len(items))
            results = self._run(items)
        except BaseException as exc:  # delivered to every waiting caller (fail-closed there)
            for job in jobs:
                job.future.set_exception(exc)
            return
        position = 0
        for job in jobs:
            job.future.set_result(results[position : position + len(job.items)])
            position += len(job.items)


_WORKERS: dict[Hashable, BatchWorker[Any, Any]] = {}
_WORKERS_LOCK = threading.Lock()


def shared_worker(key: Hashable, make: Callable[[], BatchWorker[T, R]]) -> BatchWorker[T, R]:
    """The process-wide worker for ``key`` (e.g. model folder and device), made once."""
    with _WORKERS_LOCK:
        worker = _WORKERS.get(key)
        if worker is None:
            worker = _WORKERS[key] = make()
        return worker


__all__ = ["BatchWorker", "model_folder", "model_labels", "require_hf", "shared_worker"]
