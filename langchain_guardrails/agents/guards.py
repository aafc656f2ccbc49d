"""The rail engines behind :class:`~langchain_guardrails.agents.middleware.GuardrailsMiddleware`.

Two kinds of :class:`~langchain_guardrails.Guardrails` do the work:

* one *checker*, built with the middleware, that runs single stages without a model call
  (input rails on the user turn, ``rails.tool_output`` before a tool runs, ``rails.tool_input``
  on its result);
* one *model guard* per agent model, which replaces the model for the duration of a model call
  and guards its stream (output rails per window, ``rails.tool_output`` on the calls it emits).
  Its config has no input or tool-result rails: the middleware's hooks ran those already, on
  the agent's state, so they are not paid for again on every model call.

Model guards are cached per model object in a small, locked, bounded cache: the agent hands
the same model object to every call, and building a guard resolves every rail.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from typing_extensions import override

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.guard.chat_model import Guardrails

NO_RAIL_MODEL = (
    "this rail needs a model, but it runs outside a model call (input or tool rails of "
    "GuardrailsMiddleware): pass GuardrailsMiddleware(rail_model=...) or add a `type: main` "
    "entry to the config's `models`"
)


class _NoRailModel(BaseChatModel):
    """Stands in for a model when the middleware has none for its hooks' rails: a rail that
    calls it fails (fail-closed, unless its flow says ``on_error: allow``)."""

    @property
    @override
    def _llm_type(self) -> str:
        return "guardrails-no-rail-model"

    @override
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise RuntimeError(NO_RAIL_MODEL)


def build_checker(
    config: RailsConfig, actions: Sequence[Callable[..., Any]], rail_model: Any
) -> Guardrails:
    """The guard whose ``acheck`` runs the hooks' stages; its model is what LLM rails use."""
    if rail_model is None and config.main_model is None:
        rail_model = _NoRailModel()
    return Guardrails(llm=rail_model, config=config, actions=list(actions))


def agent_guard(
    model: BaseChatModel, config: RailsConfig, actions: Sequence[Callable[..., Any]]
) -> Guardrails:
    """The model guard of one agent model. A blocked answer enters the agent's state as it was
    streamed (released text, ``rails.refusal.separator``, the refusal): the history then reads
    as the user saw it, where ``Guardrails.invoke`` alone returns the refusal alone."""
    guard = Guardrails(llm=model, config=config, actions=list(actions))
    guard._as_streamed = True
    return guard


def model_side(config: RailsConfig) -> RailsConfig:
    """``config`` without input and tool-result rails (a copy; ``config`` is not changed)."""
    rails = config.rails
    return config.model_copy(
        update={
            "rails": rails.model_copy(
                update={
                    "input": rails.input.model_copy(update={"flows": []}),
                    "tool_input": rails.tool_input.model_copy(update={"flows": [], "per_tool": {}}),
                }
            )
        }
    )


class GuardCache:
    """Model guards by model object, at most ``size`` of them, safe across threads.

    An entry keeps its model alive, so the ``id`` it is keyed by cannot be reused while the
    entry exists.
    """

    def __init__(self, build: Callable[[BaseChatModel], Guardrails], size: int) -> None:
        if size < 1:
            raise ValueError(f"max_models must be >= 1 (got {size})")
        self._build = build
        self._size = size
        self._lock = threading.Lock()
        self._guards: OrderedDict[int, tuple[BaseChatModel, Guardrails]] = OrderedDict()

    def get(self, model: BaseChatModel) -> Guardrails:
        """The guard of ``model``, built on first use."""
        key = id(model)
        with self._lock:
            entry = self._guards.get(key)
            if entry is not None:
                self._guards.move_to_end(key)
                return entry[1]
        # Built outside the lock: resolving rails may be slow, and a race only builds twice.
        guard = self._build(model)
        with self._lock:
            entry = self._guards.setdefault(key, (model, guard))
            self._guards.move_to_end(key)
            while len(self._guards) > self._size:
                self._guards.popitem(last=False)
            return entry[1]

    def __len__(self) -> int:
        with self._lock:
            return len(self._guards)

    def __iter__(self) -> Iterator[Guardrails]:
        with self._lock:
            return iter([guard for _, guard in self._guards.values()])
