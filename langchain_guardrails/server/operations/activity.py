"""Which rails ran in one guarded call, from the callback events ``Guardrails`` emits.

Rails run as child runs tagged ``guardrails:rail`` and ``guardrails:input|output``, named by
their flow. Their decisions are never redacted (they hold no text), so this works in
hold-back mode too.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from langchain_guardrails.observability.events import rail_stage


@dataclass(frozen=True, slots=True)
class RailRun:
    """One run of one rail on one text (an input, or one output window)."""

    rail: str
    stage: str
    status: str
    """``passed``, ``modified``, ``blocked``, ``cancelled`` (another rail blocked first) or
    ``error``."""
    duration: float
    """Seconds."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as the server reports it."""
        return {
            "rail": self.rail,
            "stage": self.stage,
            "status": self.status,
            "duration": round(self.duration, 6),
        }


class RailActivity(BaseCallbackHandler):
    """Collects :class:`RailRun` records; pass one per call in ``config["callbacks"]``.

    Example:
        .. code-block:: python

            activity = RailActivity()
            await guarded.ainvoke("Hi", config={"callbacks": [activity]})
            [run.rail for run in activity.runs]
    """

    ignore_llm = True  # rail runs and events only: no callback per streamed token
    ignore_chat_model = True
    run_inline = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[UUID, tuple[str, str, float]] = {}
        self.runs: list[RailRun] = []

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember rail runs (tagged ``guardrails:rail``)."""
        tags = tags or []
        if "guardrails:rail" not in tags:
            return
        stage = rail_stage(tags)
        with self._lock:
            self._open[run_id] = (kwargs.get("name") or "?", stage, time.perf_counter())

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the rail's decision."""
        status = "passed"
        if isinstance(outputs, dict):
            if outputs.get("allowed") is False:
                status = "blocked"
            elif outputs.get("rewrote"):
                status = "modified"
        self._close(run_id, status)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A rail run that was cancelled (another rail blocked first) or failed."""
        self._close(run_id, "cancelled" if isinstance(error, asyncio.CancelledError) else "error")

    def _close(self, run_id: UUID, status: str) -> None:
        with self._lock:
            started = self._open.pop(run_id, None)
            if started is not None:
                rail, stage, t0 = started
                self.runs.append(RailRun(rail, stage, status, time.perf_counter() - t0))

    def summary(self) -> list[dict[str, Any]]:
        """Per rail and stage: how many runs, and the worst status, in first-run order."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        rank = {"cancelled": 0, "passed": 0, "modified": 1, "error": 2, "blocked": 3}
        with self._lock:
            runs = list(self.runs)
        for run in runs:
            row = rows.setdefault(
                (run.stage, run.rail),
                {"rail": run.rail, "stage": run.stage, "runs": 0, "status": "passed"},
            )
            row["runs"] += 1
            if rank[run.status] > rank[row["status"]]:
                row["status"] = run.status
        return list(rows.values())
