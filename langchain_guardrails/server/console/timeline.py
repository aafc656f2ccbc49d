"""The timeline of one console run: the guarded run's own events, as the console shows them.

:class:`TimelineCollector` is a callback handler attached to console runs only. It forwards
the guardrails custom events (names, units, timings, verdicts: never text) to the console's
stream, adds the moment each LLM call ends (did the model stop early, its usage) and, at the
end, :func:`block_summary`: where the block fell and how many units the model sent after it.
With ``debug`` (``--console-debug``) it also forwards the main model's raw tokens, which may be
text the rails never released.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from langchain_guardrails.observability.events import (
    RAIL_BLOCKED,
    STREAM_ENDED,
    WINDOW_STARTED,
)

Emit = Callable[[dict[str, Any]], None]


class TimelineCollector(BaseCallbackHandler):
    """Sends one run's timeline events to ``emit`` (called on the event loop's thread).

    Times are made relative to the collector's creation (``t0``), in seconds, so the page
    needs no clock of the server's.

    Example:
        .. code-block:: python

            events: list[dict] = []
            collector = TimelineCollector(events.append)
            await guarded.ainvoke("Hi", config={"callbacks": [collector]})
    """

    run_inline = True  # bookkeeping only: no executor hop per event

    def __init__(self, emit: Emit, *, debug: bool = False) -> None:
        super().__init__()
        self.t0 = time.perf_counter()
        self.debug = debug
        self._emit = emit
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._main_runs: set[UUID] = set()
        self.arrivals: list[float] = []
        """Arrival times of the answer's units (relative), for the block summary."""
        self.block_at: float | None = None

    def _send(self, event: dict[str, Any]) -> None:
        if threading.get_ident() == self._loop_thread:
            self._emit(event)
        else:  # a sync rail's thread: hand it to the loop
            self._loop.call_soon_threadsafe(self._emit, event)

    def _rel(self, value: Any) -> Any:
        if isinstance(value, float):
            return round(value - self.t0, 6)
        if isinstance(value, list):
            return [self._rel(v) for v in value]
        return value

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Forward a guardrails event with its times made relative."""
        if not name.startswith("guardrails.") or not isinstance(data, dict):
            return
        event: dict[str, Any] = {"type": name}
        for key, value in data.items():
            timed = key in _TIMES
            event[key] = self._rel(value) if timed else value
        if name in (WINDOW_STARTED, STREAM_ENDED) and event.get("channel", "answer") == "answer":
            self.arrivals.extend(event.get("arrivals") or ())
        if name == RAIL_BLOCKED and self.block_at is None:
            self.block_at = event.get("ended_at")
        self._send(event)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember the main model's run (rail LLM calls carry ``guardrails_rail``)."""
        metadata = metadata or {}
        if not metadata.get("guardrails_rail") and not metadata.get("guardrails_guarded_run"):
            self._main_runs.add(run_id)
            self._send({"type": "console.model.started", "t": self._now()})

    def on_llm_new_token(
        self, token: str | list[str | dict[str, Any]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """With ``debug`` only: the main model's raw token (possibly unreleased text)."""
        if self.debug and run_id in self._main_runs and isinstance(token, str) and token:
            self._send({"type": "console.debug.token", "t": self._now(), "text": token})

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """The main model's stream ended: stopped by the rails or not, and its usage."""
        if run_id not in self._main_runs:
            return
        self._main_runs.discard(run_id)
        generation = response.generations[0][0] if response.generations[0:1] else None
        stopped, usage = False, None
        if isinstance(generation, ChatGeneration) and isinstance(generation.message, AIMessage):
            stopped = bool(generation.message.response_metadata.get("guardrails_stopped"))
            usage = generation.message.usage_metadata
        event: dict[str, Any] = {"type": "console.model.ended", "t": self._now()}
        event["stopped"] = stopped
        if usage is not None:
            event["output_tokens"] = usage["output_tokens"]
        self._send(event)

    def _now(self) -> float:
        return round(time.perf_counter() - self.t0, 6)


_TIMES = frozenset({"t", "started_at", "ended_at", "arrivals", "times", "reasoning_arrivals"})


def block_summary(
    guardrails: dict[str, Any], arrivals: Sequence[float], block_at: float | None
) -> dict[str, Any]:
    """The end of a console run: verdict, the blocking rail and its reason, and the units
    the model sent after the block (``units_after_block``: 0 when it stopped at once).

    Example:
        .. code-block:: python

            block_summary({"blocked": True, "rail": "x"}, [0.1, 0.2, 0.3], 0.25)
            # {..., "units_after_block": 1}
    """
    summary: dict[str, Any] = {
        "type": "console.summary",
        "blocked": bool(guardrails.get("blocked")),
        "units": len(arrivals),
    }
    if summary["blocked"]:
        summary.update(
            stage=guardrails.get("stage"),
            rail=guardrails.get("rail"),
            reason=guardrails.get("reason"),
            block_at=block_at,
            units_after_block=(
                sum(1 for t in arrivals if t > block_at) if block_at is not None else 0
            ),
        )
    return summary


__all__ = ["TimelineCollector", "block_summary"]
