"""What observers of an agent run see of the checks of
:class:`~langchain_guardrails.agents.middleware.GuardrailsMiddleware`: never a text the rails have
not passed.

Two places would otherwise show it:

* the rail runs of the middleware's hooks (``on_chain_start`` of each rail carries the text it
  checks: a user message, a tool call, a tool result). :func:`rail_check_config` relays the
  caller's handlers with the same :class:`~langchain_guardrails.llm.callback_relay.RelayPolicy` the
  guarded model gives its rails in hold-back mode: rail inputs and their LLM prompts are
  redacted, rail decisions are not.
* the tool run itself: LangChain reports ``on_tool_end`` with the tool's raw output before the
  middleware sees it (``astream_events``, LangSmith, the ``tools`` stream mode and every
  handler). :class:`ToolEndGate` runs the tool with relays that hold that one event back, and
  sends it once ``rails.tool_input`` decided, carrying what enters state (the masked result or
  the placeholder).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

from langchain_core.callbacks import (
    AsyncCallbackHandler,
    BaseCallbackHandler,
    BaseCallbackManager,
)
from langchain_core.callbacks.manager import ahandle_event, handle_event
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, get_async_callback_manager_for_config
from langchain_core.tools import BaseTool
from pydantic import ConfigDict
from typing_extensions import override

from langchain_guardrails.engine.results import RailCheck
from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.llm.callback_relay import (
    RelayPolicy,
    _AsyncRelay,
    _SyncRelay,
    hooks_suppressed,
    relay_manager,
)


def run_check(
    checker: Guardrails,
    messages: Sequence[BaseMessage],
    *,
    base: RunnableConfig | None = None,
    **kwargs: Any,
) -> RailCheck:
    """``checker.check`` with the hook's handlers behind redacting relays (sync twin of
    :func:`arun_check`)."""
    config = rail_check_config(base)
    with hooks_suppressed():
        return checker.check(messages, config=config, **kwargs)


async def arun_check(
    checker: Guardrails,
    messages: Sequence[BaseMessage],
    *,
    base: RunnableConfig | None = None,
    **kwargs: Any,
) -> RailCheck:
    """``checker.acheck`` with the hook's handlers behind redacting relays (those of
    ``base``, a caller's config, outside a run)."""
    config = rail_check_config(base)
    # The relays already hold the context's handlers (usage, tracing): LangChain must not add
    # them a second time, unrelayed, when the check configures its runs.
    with hooks_suppressed():
        return await checker.acheck(messages, config=config, **kwargs)


def rail_check_config(base: RunnableConfig | None = None) -> RunnableConfig:
    """The config of a rail check made in a hook: the current run's handlers, relayed so the
    rail runs never carry the text under check (nor their LLM calls' prompts and answers)."""
    manager = get_async_callback_manager_for_config(ensure_config(base))
    if not manager.handlers:
        return {"callbacks": None}
    policy = RelayPolicy(
        redact_inputs=True,
        redact_outputs=True,
        drop_tokens=True,
        # The rails' own decisions (allowed, reason, rewrote) hold no text.
        guard_run_id=manager.parent_run_id,
    )
    return {"callbacks": relay_manager(manager, policy)}


class ToolEndGate:
    """Holds back ``on_tool_end`` of the tool runs it starts until :meth:`release`.

    One gate per tool call (a retrying middleware inside ours may run the tool more than once;
    every run's end is held and released with the same final result).
    """

    def __init__(self) -> None:
        self.run_ids: set[UUID] = set()
        self._held: list[tuple[BaseCallbackHandler, dict[str, Any]]] = []

    def tool(self, inner: BaseTool) -> BaseTool:
        """``inner`` run through this gate."""
        return _GatedTool(name=inner.name, description=inner.description, inner=inner, gate=self)

    def config(self, config: RunnableConfig | None) -> RunnableConfig:
        """``config`` with a fresh run id and every handler behind a holding relay (a copy)."""
        config = ensure_config(config)
        run_id = uuid4()
        self.run_ids.add(run_id)
        callbacks = config.get("callbacks")
        if isinstance(callbacks, BaseCallbackManager):
            copy = callbacks.copy()
            copy.handlers = [self._wrap(h) for h in callbacks.handlers]
            copy.inheritable_handlers = [self._wrap(h) for h in callbacks.inheritable_handlers]
            callbacks = copy
        elif isinstance(callbacks, list):
            callbacks = [self._wrap(h) for h in callbacks]
        return {**config, "callbacks": callbacks, "run_id": run_id}

    def hold(self, target: BaseCallbackHandler, kwargs: dict[str, Any]) -> None:
        self._held.append((target, kwargs))

    def release(self, output: Any) -> None:
        """Send the held ends with ``output`` (sync twin of :meth:`arelease`)."""
        held, self._held = self._held, []
        for target, kwargs in held:
            handle_event([target], "on_tool_end", "ignore_agent", output, **kwargs)

    async def arelease(self, output: Any) -> None:
        """Send the held ends, carrying ``output`` (what enters the agent's state)."""
        held, self._held = self._held, []
        for target, kwargs in held:
            await ahandle_event([target], "on_tool_end", "ignore_agent", output, **kwargs)

    def _wrap(self, handler: BaseCallbackHandler) -> BaseCallbackHandler:
        # The relays forward every other event unchanged (an empty policy).
        if isinstance(handler, _SyncHold | _AsyncHold):
            return handler
        if isinstance(handler, AsyncCallbackHandler):
            return _AsyncHold(handler, self)
        return _SyncHold(handler, self)


class _SyncHold(_SyncRelay):
    def __init__(self, target: BaseCallbackHandler, gate: ToolEndGate) -> None:
        super().__init__(target, RelayPolicy(), None)
        self.gate = gate

    def on_tool_end(self, output: Any, **kwargs: Any) -> Any:
        if kwargs.get("run_id") in self.gate.run_ids:
            self.gate.hold(self.target, kwargs)
            return None
        return self.target.on_tool_end(output, **kwargs)


class _AsyncHold(_AsyncRelay):
    def __init__(self, target: BaseCallbackHandler, gate: ToolEndGate) -> None:
        super().__init__(target, RelayPolicy(), None)
        self.gate = gate

    async def on_tool_end(self, output: Any, **kwargs: Any) -> None:
        if kwargs.get("run_id") in self.gate.run_ids:
            self.gate.hold(self.target, kwargs)
            return
        result = self.target.on_tool_end(output, **kwargs)
        if hasattr(result, "__await__"):
            await result


class _GatedTool(BaseTool):
    """A registered tool, run with its ``on_tool_end`` held by a :class:`ToolEndGate`."""

    inner: BaseTool
    gate: ToolEndGate
    model_config = ConfigDict(arbitrary_types_allowed=True)

    @override
    def _run(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never called
        raise NotImplementedError("a gated tool forwards invoke/ainvoke to the tool it gates")

    @override
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.inner.invoke(input, self.gate.config(config), **kwargs)

    @override
    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self.inner.ainvoke(input, self.gate.config(config), **kwargs)


__all__ = ["ToolEndGate", "arun_check", "rail_check_config", "run_check"]
