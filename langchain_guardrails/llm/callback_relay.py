"""Keep unreleased text away from observers, and keep usage flowing to them.

The guarded model and the rails report to the caller's callback handlers through *relays*:
per-call proxies that forward every event, except that in hold-back mode they

* drop streamed tokens of the model (they are not released yet),
* blank the text of LLM results (usage and metadata are kept, so usage handlers still count),
* replace the inputs of rail runs and the prompts of their LLM calls (they hold window text).

Relays also turn the stop of the model stream that a block causes (``GeneratorExit``) into a
normal ``on_llm_end`` carrying the usage up to the block, so usage handlers count blocked calls.

LangChain re-adds context-registered handlers (``get_usage_metadata_callback``, tracing) to
every child call it configures; :func:`hooks_suppressed` stops that for our child calls, whose
callbacks already hold relays of those same handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from uuid import UUID

from langchain_core.callbacks import (
    AsyncCallbackHandler,
    AsyncCallbackManager,
    BaseCallbackHandler,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, Generation, LLMResult

from langchain_guardrails.observability.events import REDACTED

SAFE_METADATA = frozenset(
    {
        "model_name",
        "model",
        "model_provider",
        "system_fingerprint",
        "service_tier",
        "finish_reason",
        "stop_reason",
        "done_reason",
        "token_usage",
        "usage",
        "created_at",
        "ls_provider",
        "ls_model_name",
    }
)
"""Keys of ``response_metadata`` / ``generation_info`` / ``llm_output`` that describe the call,
not its text. Everything else (logprobs, content filter results, provider extras) may be
derived from the text and is withheld with it."""


def safe_metadata(metadata: Any) -> dict[str, Any]:
    """Only the keys of ``metadata`` that cannot quote or encode unreleased text."""
    if not metadata:
        return {}
    return {k: v for k, v in metadata.items() if k in SAFE_METADATA}


class StopInfo(Protocol):
    """What relays read from a stream (``chunks.StreamTally``): was it stopped by us, and what
    did it use up to then."""

    stopped: bool
    usage: UsageMetadata | None
    model_name: str | None


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    """What a relay changes. One policy per call and per kind of child run."""

    redact_outputs: bool = False
    """Drop streamed tokens and blank LLM result text (unreleased model output)."""
    redact_inputs: bool = False
    """Blank chain inputs and LLM prompts (rail runs: they hold window text)."""
    stop: StopInfo | None = field(default=None, compare=False)
    """Set for the main model call: turns our own stop into an ``on_llm_end`` with usage."""
    guard_run_id: UUID | None = None
    """The guarded run: chain ends of its direct children (rail decisions) are not redacted."""
    hide_tool_calls: bool = False
    """Take tool calls off LLM results: they are released only after ``rails.tool_output``
    passed them, as part of the guarded run's own result."""
    strip_reasoning: bool = False
    """Take reasoning off LLM results (``rails.output.reasoning: strip``)."""
    drop_tokens: bool = False
    """Drop streamed tokens only: the guarded run streams what is released, once; the wrapped
    model's and the rails' own tokens are never answer tokens."""


def relay_manager(manager: AsyncCallbackManager, policy: RelayPolicy) -> AsyncCallbackManager:
    """A copy of ``manager`` whose handlers are relays applying ``policy``."""
    from langsmith import get_tracing_context

    relays: dict[int, BaseCallbackHandler] = {}
    tracing = get_tracing_context().get("enabled")

    def wrap(handler: BaseCallbackHandler) -> BaseCallbackHandler:
        if id(handler) not in relays:
            cls = _AsyncRelay if isinstance(handler, AsyncCallbackHandler) else _SyncRelay
            relays[id(handler)] = cls(handler, policy, tracing)
        return relays[id(handler)]

    copy = manager.copy()
    copy.handlers = [wrap(h) for h in manager.handlers]
    copy.inheritable_handlers = [wrap(h) for h in manager.inheritable_handlers]
    return copy


@contextlib.contextmanager
def hooks_suppressed() -> Iterator[None]:
    """While active, LangChain does not add context-registered handlers to new runs, nor the
    handlers of the caller's context config (a ``RunnableBinding`` merges that config into
    the one it is given, which would hand the raw handlers to the wrapped model)."""
    from langchain_core.runnables.config import var_child_runnable_config
    from langchain_core.tracers.context import _configure_hooks, tracing_v2_callback_var
    from langsmith.run_helpers import tracing_context

    variables = [
        cast("ContextVar[Any]", var_child_runnable_config),
        cast("ContextVar[Any]", tracing_v2_callback_var),
        *(cast("ContextVar[Any]", hook[0]) for hook in _configure_hooks),
    ]
    tokens = [(var, var.set(None)) for var in dict.fromkeys(variables)]
    try:
        with tracing_context(enabled=False):
            yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


@contextlib.contextmanager
def _tracing_as(enabled: Any) -> Iterator[None]:
    """Runs start where :func:`hooks_suppressed` turned tracing off (so LangChain adds no raw
    tracer of its own); a relayed tracer must still see the caller's setting, or it marks the
    run disabled and never posts it."""
    from langsmith.run_helpers import _TRACING_ENABLED

    # Set the variable itself: ``tracing_context(enabled=None)`` would keep the ``False``.
    token = _TRACING_ENABLED.set(enabled)
    try:
        yield
    finally:
        _TRACING_ENABLED.reset(token)


class _RelayBase:
    def __init__(self, target: BaseCallbackHandler, policy: RelayPolicy, tracing: Any) -> None:
        self.target = target
        self.policy = policy
        self.tracing = tracing
        self.raise_error = target.raise_error
        self.run_inline = target.run_inline

    def __getattr__(self, name: str) -> Any:
        # Any handler-specific attribute comes from the target.
        return getattr(self.target, name)

    def _chat_start(self, messages: list[list[BaseMessage]]) -> list[list[BaseMessage]]:
        if not self.policy.redact_inputs:
            return messages
        return [[HumanMessage(content=REDACTED) for _ in batch] for batch in messages]

    def _llm_start(self, prompts: list[str]) -> list[str]:
        return [REDACTED for _ in prompts] if self.policy.redact_inputs else prompts

    def _chain_inputs(self, inputs: Any) -> Any:
        if not self.policy.redact_inputs:
            return inputs
        return {key: REDACTED for key in inputs} if isinstance(inputs, dict) else REDACTED

    def _chain_outputs(self, outputs: Any, kwargs: dict[str, Any]) -> Any:
        # A rail's own result is its decision (safe); what its sub-runs return may quote text.
        if not self.policy.redact_inputs or kwargs.get("parent_run_id") == self.policy.guard_run_id:
            return outputs
        return self._chain_inputs(outputs)

    def _result(self, response: LLMResult) -> LLMResult:
        policy = self.policy
        if policy.redact_outputs:
            return _redact_result(response)
        if policy.hide_tool_calls or policy.strip_reasoning:
            return _clean_result(response, policy)
        return response

    def _stopped(self, error: BaseException, kwargs: dict[str, Any]) -> LLMResult | None:
        """The result to report as ``on_llm_end`` when this error is our own stop."""
        stop = self.policy.stop
        if stop is None or not stop.stopped:
            return None
        if not isinstance(error, GeneratorExit | asyncio.CancelledError):
            return None
        response = kwargs.get("response")
        generations = response.generations[0] if response and response.generations else []
        partial = next((g for g in generations if isinstance(g, ChatGeneration)), None)
        metadata = dict(partial.message.response_metadata) if partial else {}
        if self.policy.redact_outputs:
            metadata = safe_metadata(metadata)
        if stop.model_name and "model_name" not in metadata:
            metadata["model_name"] = stop.model_name
        content = partial.message.content if partial and not self.policy.redact_outputs else ""
        message = AIMessage(
            content=content,
            usage_metadata=stop.usage,
            response_metadata={**metadata, "guardrails_stopped": True},
            id=partial.message.id if partial else None,
        )
        return LLMResult(generations=[[ChatGeneration(message=message)]])


def without_tool_calls(message: BaseMessage) -> BaseMessage:
    """``message`` with no tool call left in it, in any of the forms providers use."""
    extra = {
        k: v
        for k, v in message.additional_kwargs.items()
        if k not in ("tool_calls", "function_call")
    }
    update: dict[str, Any] = {"additional_kwargs": extra}
    for name in ("tool_calls", "invalid_tool_calls", "tool_call_chunks"):
        if hasattr(message, name):
            update[name] = []
    if isinstance(message.content, list):
        update["content"] = [
            b
            for b in message.content
            if not (isinstance(b, dict) and b.get("type") in ("tool_use", "tool_call"))
        ]
    return message.model_copy(update=update)


def _clean_result(response: LLMResult, policy: RelayPolicy) -> LLMResult:
    from langchain_guardrails.streaming.reasoning import without_reasoning

    generations: list[list[Generation]] = []
    for batch in response.generations:
        out: list[Generation] = []
        for generation in batch:
            if isinstance(generation, ChatGeneration):
                message: Any = generation.message
                if policy.hide_tool_calls:
                    message = without_tool_calls(message)
                if policy.strip_reasoning:
                    message = without_reasoning(message)
                generation = ChatGeneration(
                    message=message, generation_info=generation.generation_info
                )
            out.append(generation)
        generations.append(out)
    return LLMResult(generations=generations, llm_output=response.llm_output, run=response.run)


def _redact_result(response: LLMResult) -> LLMResult:
    generations: list[list[Generation]] = []
    for batch in response.generations:
        out: list[Generation] = []
        for generation in batch:
            if isinstance(generation, ChatGeneration):
                message = generation.message
                redacted = AIMessage(
                    content="",
                    usage_metadata=getattr(message, "usage_metadata", None),
                    response_metadata={
                        **safe_metadata(message.response_metadata),
                        "guardrails_redacted": True,
                    },
                    id=message.id,
                )
                info = safe_metadata(generation.generation_info) or None
                out.append(ChatGeneration(message=redacted, generation_info=info))
            else:
                info = safe_metadata(generation.generation_info) or None
                out.append(Generation(text="", generation_info=info))
        generations.append(out)
    llm_output = safe_metadata(response.llm_output) or None
    return LLMResult(generations=generations, llm_output=llm_output, run=response.run)


_FORWARDED = (
    "on_chain_error",
    "on_tool_start",
    "on_tool_end",
    "on_tool_error",
    "on_text",
    "on_retry",
    "on_agent_action",
    "on_agent_finish",
    "on_retriever_start",
    "on_retriever_end",
    "on_retriever_error",
    "on_custom_event",
)


class _SyncRelay(_RelayBase, BaseCallbackHandler):
    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> Any:
        with _tracing_as(self.tracing):
            return self.target.on_chat_model_start(serialized, self._chat_start(messages), **kwargs)

    def on_llm_start(self, serialized: Any, prompts: list[str], **kwargs: Any) -> Any:
        with _tracing_as(self.tracing):
            return self.target.on_llm_start(serialized, self._llm_start(prompts), **kwargs)

    def on_llm_new_token(self, token: str | list[str | dict[str, Any]], **kwargs: Any) -> Any:
        if not (self.policy.redact_outputs or self.policy.drop_tokens):
            return self.target.on_llm_new_token(token, **kwargs)
        return None

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> Any:
        return self.target.on_llm_end(self._result(response), **kwargs)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> Any:
        ended = self._stopped(error, kwargs)
        if ended is not None:
            kwargs.pop("response", None)
            return self.target.on_llm_end(ended, **kwargs)
        if kwargs.get("response") is not None:
            kwargs["response"] = self._result(kwargs["response"])
        return self.target.on_llm_error(error, **kwargs)

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> Any:
        with _tracing_as(self.tracing):
            return self.target.on_chain_start(serialized, self._chain_inputs(inputs), **kwargs)

    def on_chain_end(self, outputs: Any, **kwargs: Any) -> Any:
        return self.target.on_chain_end(self._chain_outputs(outputs, kwargs), **kwargs)


class _AsyncRelay(_RelayBase, AsyncCallbackHandler):
    async def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> Any:
        return await _maybe_await(
            self.target.on_chat_model_start(serialized, self._chat_start(messages), **kwargs)
        )

    async def on_llm_start(self, serialized: Any, prompts: list[str], **kwargs: Any) -> None:
        await _maybe_await(self.target.on_llm_start(serialized, self._llm_start(prompts), **kwargs))

    async def on_llm_new_token(
        self, token: str | list[str | dict[str, Any]], **kwargs: Any
    ) -> None:
        if not (self.policy.redact_outputs or self.policy.drop_tokens):
            await _maybe_await(self.target.on_llm_new_token(token, **kwargs))

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        await _maybe_await(self.target.on_llm_end(self._result(response), **kwargs))

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        ended = self._stopped(error, kwargs)
        if ended is not None:
            kwargs.pop("response", None)
            await _maybe_await(self.target.on_llm_end(ended, **kwargs))
            return
        if kwargs.get("response") is not None:
            kwargs["response"] = self._result(kwargs["response"])
        await _maybe_await(self.target.on_llm_error(error, **kwargs))

    async def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        await _maybe_await(
            self.target.on_chain_start(serialized, self._chain_inputs(inputs), **kwargs)
        )

    async def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
        await _maybe_await(self.target.on_chain_end(self._chain_outputs(outputs, kwargs), **kwargs))


async def _maybe_await(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value


def _forwarder(name: str, is_async: bool) -> Any:
    if is_async:

        async def forward_async(self: _RelayBase, *args: Any, **kwargs: Any) -> Any:
            return await _maybe_await(getattr(self.target, name)(*args, **kwargs))

        forward_async.__name__ = name
        return forward_async

    def forward(self: _RelayBase, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.target, name)(*args, **kwargs)

    forward.__name__ = name
    return forward


def _ignore_flag(name: str) -> property:
    # BaseCallbackHandler defines these as properties, so ``__getattr__`` never sees them.
    return property(lambda self: getattr(self.target, name))


for _flag in (
    "ignore_llm",
    "ignore_chat_model",
    "ignore_chain",
    "ignore_agent",
    "ignore_retriever",
    "ignore_retry",
    "ignore_custom_event",
):
    setattr(_RelayBase, _flag, _ignore_flag(_flag))

for _name in _FORWARDED:
    if _name not in vars(_SyncRelay):
        setattr(_SyncRelay, _name, _forwarder(_name, is_async=False))
    if _name not in vars(_AsyncRelay):
        setattr(_AsyncRelay, _name, _forwarder(_name, is_async=True))


__all__ = [
    "REDACTED",
    "RelayPolicy",
    "StopInfo",
    "hooks_suppressed",
    "relay_manager",
    "safe_metadata",
    "without_tool_calls",
]
