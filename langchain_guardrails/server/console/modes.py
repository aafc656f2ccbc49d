"""The guard a console run uses: the served one, or a copy of it in the mode the console
asked for (stream-first or hold-back), or with unreleased text visible (``--console-debug``).

Copies are built from the served guard's config and model, never by changing it, and kept in
a small cache per app so a console user switching modes does not rebuild rails per request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Literal

from langchain_guardrails.errors import ConfigError
from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.server.protocol.request_error import RequestError

Mode = Literal["stream_first", "hold_back"]
MODES: tuple[Mode, ...] = ("stream_first", "hold_back")


def parse_mode(value: object) -> Mode | None:
    """The ``mode`` of a console request (``None``: as the config says)."""
    if value is None or value == "":
        return None
    if value not in MODES:
        raise RequestError(f"mode must be one of {', '.join(MODES)} (got {value!r})", param="mode")
    return value


class ModeVariants:
    """Copies of served guards in another release mode, cached (at most ``size``).

    Example:
        .. code-block:: python

            variants = ModeVariants()
            held = variants.get(guarded, "hold_back", debug=False)
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, Mode | None, bool], tuple[Guardrails, Guardrails]] = (
            OrderedDict()
        )

    def get(self, guarded: Guardrails, mode: Mode | None, *, debug: bool) -> Guardrails:
        """``guarded`` itself when it already runs so, else its copy in ``mode``."""
        streaming = guarded.config.rails.output.streaming
        same_mode = mode is None or (mode == "stream_first") == streaming.stream_first
        if same_mode and (not debug or streaming.audit_unreleased_text):
            return guarded
        key = (id(guarded), mode, debug)
        with self._lock:
            found = self._cache.get(key)
            # The served guard itself is kept in the entry: its id cannot be reused meanwhile.
            if found is not None and found[0] is guarded:
                self._cache.move_to_end(key)
                return found[1]
        variant = _variant(guarded, mode, debug=debug)
        with self._lock:
            self._cache[key] = (guarded, variant)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return variant


def _variant(guarded: Guardrails, mode: Mode | None, *, debug: bool) -> Guardrails:
    config = guarded.config
    update: dict[str, object] = {}
    if mode is not None:
        update["stream_first"] = mode == "stream_first"
    if debug:
        update["audit_unreleased_text"] = True
    rails = config.rails
    streaming = rails.output.streaming.model_copy(update=update)
    output = rails.output.model_copy(update={"streaming": streaming})
    copied = config.model_copy(update={"rails": rails.model_copy(update={"output": output})})
    try:
        return Guardrails(config=copied, llm=guarded.llm, actions=list(guarded.actions))
    except ConfigError as exc:  # e.g. a masking rail cannot run stream-first
        raise RequestError(f"mode {mode}: {exc}", param="mode") from exc


__all__ = ["MODES", "Mode", "ModeVariants", "parse_mode"]
