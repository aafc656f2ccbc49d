"""The callback plumbing of a guarded call: the run's children, the rails' relayed managers,
how rails get their models, and how a window's check is scheduled."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any
from uuid import uuid4

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.runnables import Runnable, RunnableConfig

from langchain_guardrails.engine.rail_engine import CallScope, Decision, RailEngine, Stage
from langchain_guardrails.engine.results import aggregate
from langchain_guardrails.llm.callback_relay import RelayPolicy, hooks_suppressed, relay_manager
from langchain_guardrails.llm.threads import SyncBacked

GUARDED_RUN = "guardrails_guarded_run"
"""Metadata of the guarded run itself (not inherited): handlers that count model calls skip
it, since the wrapped model's run is the call."""

NOSTREAM = "nostream"
"""LangGraph's tag (``TAG_NOSTREAM``) for runs whose tokens are not answer tokens (the wrapped
model's and the rails' own calls): the guarded run streams what is released, once."""


def reported(chunks: list[AIMessageChunk]) -> AIMessage:
    """The guarded run's result for callbacks: the released answer without usage (the wrapped
    model's run reports it; usage handlers would count it twice)."""
    return aggregate(chunks).model_copy(update={"usage_metadata": None})


def child_of(run: AsyncCallbackManagerForLLMRun) -> AsyncCallbackManager:
    """The manager of the guarded run's children (the model and the rails); an LLM run has no
    ``get_child``, as LangChain's LLM runs are leaves."""
    manager = AsyncCallbackManager(handlers=[], parent_run_id=run.run_id)
    manager.set_handlers(run.inheritable_handlers)
    manager.add_tags(run.inheritable_tags)
    manager.add_metadata(run.inheritable_metadata)
    return manager


def async_run(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> AsyncCallbackManagerForLLMRun:
    """An async run manager for the core (``generate`` hands sync ones, or none)."""
    if isinstance(run_manager, AsyncCallbackManagerForLLMRun):
        return run_manager
    if run_manager is None:
        return AsyncCallbackManagerForLLMRun(run_id=uuid4(), handlers=[], inheritable_handlers=[])
    return AsyncCallbackManagerForLLMRun(
        run_id=run_manager.run_id,
        handlers=run_manager.handlers,
        inheritable_handlers=run_manager.inheritable_handlers,
        parent_run_id=run_manager.parent_run_id,
        tags=run_manager.tags,
        inheritable_tags=run_manager.inheritable_tags,
        metadata=run_manager.metadata,
        inheritable_metadata=run_manager.inheritable_metadata,
    )


def replace_scope(scope: CallScope, callbacks: AsyncCallbackManager | None) -> CallScope:
    return CallScope(
        messages=scope.messages,
        user_message=scope.user_message,
        callbacks=callbacks,
        bind_llm=scope.bind_llm,
        run_id=scope.run_id,
    )


def rail_callbacks(
    manager: AsyncCallbackManager,
    stage: Stage,
    redact: bool = False,
    guard_run_id: Any = None,
) -> AsyncCallbackManager:
    """The parent of one stage's rail runs: tagged, and relayed so their LLM calls never stream
    tokens to anyone (judge tokens are not answer tokens); in hold-back mode their inputs and
    outputs are redacted (they hold window text)."""
    tagged = manager.copy()
    tagged.add_tags(["guardrails:rail", f"guardrails:{stage}", NOSTREAM])
    policy = RelayPolicy(
        redact_inputs=redact, redact_outputs=redact, drop_tokens=True, guard_run_id=guard_run_id
    )
    return relay_manager(tagged, policy)


def _bind(llm: Runnable[Any, Any], config: RunnableConfig) -> Runnable[Any, Any]:
    return llm.with_config(config)


def _bind_threaded(llm: Runnable[Any, Any], config: RunnableConfig) -> Runnable[Any, Any]:
    return SyncBacked(llm.with_config(config))


def binder(sync: bool) -> Callable[[Runnable[Any, Any], RunnableConfig], Runnable[Any, Any]]:
    """How rails get their models: through the sync API in threads on sync calls."""
    return _bind_threaded if sync else _bind


def scheduler(
    engine: RailEngine, scope: CallScope
) -> Callable[[str, int], asyncio.Future[Decision]]:
    """Start each window's check as a task, where LangChain adds no raw handlers of its own to
    the rails' child runs (our relays stand in for them)."""
    context: contextvars.Context | None = None
    if scope.callbacks is not None:
        with hooks_suppressed():
            context = contextvars.copy_context()
    rails = engine.output_rails

    def schedule(text: str, index: int) -> asyncio.Future[Decision]:
        return asyncio.get_running_loop().create_task(
            engine.check(rails, text, "output", scope, index), context=context
        )

    return schedule
