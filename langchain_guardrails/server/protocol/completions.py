"""One chat completion: run the guarded stream and render it as OpenAI responses.

:func:`turn` is the single code path: it yields the released text pieces and then one
:class:`TurnEnd`. The SSE stream and the whole-response body are both built from it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import orjson
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import RunnableConfig

from langchain_guardrails.errors import GuardrailsViolation
from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.observability.safe_logging import log_failure
from langchain_guardrails.server.operations.activity import RailActivity
from langchain_guardrails.server.protocol.deltas import DeltaWriter, MessageBuilder
from langchain_guardrails.server.protocol.openai_schema import (
    chunk_body,
    completion_body,
    completion_id,
    usage_body,
    violation_error,
    without_surrogates,
)
from langchain_guardrails.server.protocol.request_error import RequestError
from langchain_guardrails.server.upstream.failures import failure

logger = logging.getLogger("langchain_guardrails.server")

DONE = b"data: [DONE]\n\n"
_FINISH = {"length": "length", "max_tokens": "length", "content_filter": "content_filter"}


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """How a turn ended."""

    finish_reason: str
    """``stop``, ``length``, ``tool_calls``, ``function_call`` or ``content_filter`` (a block)."""
    usage: UsageMetadata | None
    guardrails: dict[str, Any]
    """The guardrails metadata of the final chunk (plus ``activated_rails`` when logged)."""
    refusal: str | None = None
    """The refusal text of a block (sent after the released text, as its last content)."""

    @property
    def blocked(self) -> bool:
        return bool(self.guardrails.get("blocked"))


async def turn(
    guarded: Guardrails,
    messages: list[BaseMessage],
    model_kwargs: Mapping[str, Any],
    *,
    log_rails: bool = False,
    observer: BaseCallbackHandler | Sequence[BaseCallbackHandler] | None = None,
    legacy_functions: bool = False,
) -> AsyncGenerator[dict[str, Any] | TurnEnd, None]:
    """The OpenAI deltas of one guarded call's released chunks, then its :class:`TurnEnd`.

    The refusal of a block is not a released piece: it comes in ``TurnEnd.refusal``.
    ``observer`` (e.g. the server's ``RailObserver``) receives the call's callback events.
    """
    activity = RailActivity() if log_rails else None
    observers = [observer] if isinstance(observer, BaseCallbackHandler) else list(observer or ())
    handlers = [h for h in (activity, *observers) if h is not None]
    config: RunnableConfig = {"callbacks": handlers} if handlers else {}
    writer = DeltaWriter(legacy_functions=legacy_functions)
    finish = "stop"
    usage: UsageMetadata | None = None
    guard: dict[str, Any] = {}
    refusal: str | None = None
    try:
        stream = guarded.astream(messages, config, **model_kwargs)
        try:
            async for chunk in stream:
                metadata = chunk.response_metadata
                if metadata:
                    reason = metadata.get("finish_reason")
                    if reason:
                        finish = _FINISH.get(str(reason).lower(), "stop")
                    guard = metadata.get("guardrails", guard)
                if chunk.usage_metadata is not None:
                    usage = chunk.usage_metadata
                if guard.get("blocked"):
                    refusal = chunk.text
                    continue
                for delta in writer.deltas(chunk):
                    yield delta
            if not guard.get("blocked"):
                for delta in writer.finish():
                    yield delta
        finally:
            # Closed at once when the consumer stops (client gone): the model stream closes too.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
    except GuardrailsViolation as exc:
        # enable_rails_exceptions: the HTTP answer is the same block, without refusal text.
        guard, usage = dict(exc.metadata), exc.usage_metadata
    guard = dict(guard)
    if activity is not None:
        guard["activated_rails"] = activity.summary()
    if guard.get("blocked"):
        finish = "content_filter"
    elif writer.called_tools:
        finish = "function_call" if legacy_functions else "tool_calls"
    yield TurnEnd(finish, usage, guard, refusal)


async def complete(
    guarded: Guardrails,
    messages: list[BaseMessage],
    model_kwargs: Mapping[str, Any],
    *,
    model: str,
    log_rails: bool = False,
    observer: BaseCallbackHandler | Sequence[BaseCallbackHandler] | None = None,
    legacy_functions: bool = False,
) -> dict[str, Any]:
    """The whole ``chat.completion`` body of one guarded call."""
    built = MessageBuilder()
    end: TurnEnd | None = None
    items = turn(
        guarded,
        messages,
        model_kwargs,
        log_rails=log_rails,
        observer=observer,
        legacy_functions=legacy_functions,
    )
    async with aclosing(items):
        async for item in items:
            if isinstance(item, TurnEnd):
                end = item
            else:
                built.add(item)
    assert end is not None  # turn() always ends with a TurnEnd
    # As Guardrails.invoke: a blocked answer is the refusal alone (also in `refusal`).
    message = built.message(refusal=(end.refusal or "") if end.blocked else None)
    return completion_body(model, message, end.finish_reason, end.usage, end.guardrails)


async def event_stream(
    guarded: Guardrails,
    messages: list[BaseMessage],
    model_kwargs: Mapping[str, Any],
    *,
    model: str,
    include_usage: bool = False,
    nemo_errors: bool = False,
    log_rails: bool = False,
    observer: BaseCallbackHandler | Sequence[BaseCallbackHandler] | None = None,
    first_content: Callable[[], None] | None = None,
    on_end: Callable[[dict[str, Any]], None] | None = None,
    legacy_functions: bool = False,
) -> AsyncGenerator[bytes, None]:
    """The SSE body of one streamed completion; ``data: [DONE]`` always comes last.

    ``first_content`` is called once, when the first released delta is about to be sent;
    ``on_end`` with the final ``guardrails`` metadata. A refusal after released text comes
    after ``rails.refusal.separator``, a content delta of the guarded stream like any other
    (:func:`~langchain_guardrails.engine.results.refusal_chunks`, shared by every path); the
    refusal's own delta carries it in ``content`` and alone in ``refusal``, as OpenAI's schema does.
    """
    cid, created = completion_id(), int(time.time())
    extra: dict[str, Any] = {"usage": None} if include_usage else {}
    yield event(chunk_body(cid, model, created, {"role": "assistant", "content": ""}, **extra))
    try:
        end: TurnEnd | None = None
        # Closed at once when the response stops (client gone): the model stream closes too.
        items = turn(
            guarded,
            messages,
            model_kwargs,
            log_rails=log_rails,
            observer=observer,
            legacy_functions=legacy_functions,
        )
        async with aclosing(items):
            async for item in items:
                if isinstance(item, TurnEnd):
                    end = item
                    continue
                if first_content is not None:
                    first_content()
                    first_content = None
                yield event(chunk_body(cid, model, created, item, **extra))
        assert end is not None  # turn() always ends with a TurnEnd
        if on_end is not None:
            on_end(end.guardrails)
        if end.refusal:
            delta = {"content": end.refusal, "refusal": end.refusal}
            yield event(chunk_body(cid, model, created, delta, **extra))
        final = chunk_body(
            cid, model, created, {}, end.finish_reason, guardrails=end.guardrails, **extra
        )
        if nemo_errors and end.blocked:
            final["error"] = violation_error(end.guardrails)
        yield event(final)
        if include_usage:
            yield event(chunk_body(cid, model, created, None, usage=usage_body(end.usage)))
    except Exception as exc:
        # A malformed chunk's error may quote model text: frames and type only.
        log_failure(logger, logging.ERROR, "chat completion %s failed", cid, error=exc)
        yield event(failure(exc)[1])
    yield DONE


_TOKEN_LIMITS = ("max_tokens", "max_completion_tokens")


def capped_kwargs(guarded: Guardrails, model_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The model kwargs of a request under the config's ``rails.output.max_tokens``: a request
    asking for more is refused (400 naming the limit), one asking for none gets the limit.

    Example:
        .. code-block:: python

            capped_kwargs(guarded, {"max_tokens": 50})  # RequestError when the limit is 40
    """
    limit = guarded.config.rails.output.max_tokens
    if limit is None:
        return dict(model_kwargs)
    asked = [key for key in _TOKEN_LIMITS if model_kwargs.get(key) is not None]
    for key in asked:
        if model_kwargs[key] > limit:
            raise RequestError(
                f"{key} must be at most {limit} for this config (rails.output.max_tokens); "
                f"got {model_kwargs[key]}",
                param=key,
            )
    return dict(model_kwargs) if asked else {**model_kwargs, "max_tokens": limit}


def timeout_error(seconds: float) -> dict[str, Any]:
    """The error body of a generation stopped by the request deadline."""
    return {
        "error": {
            "message": f"The generation did not finish within the request timeout of {seconds:g} s",
            "type": "server_error",
            "param": None,
            "code": "request_timeout",
        }
    }


def event(data: Mapping[str, Any]) -> bytes:
    """One SSE ``data:`` event. JSON never contains a raw newline, so one line is enough."""
    return b"data: " + json_bytes(data) + b"\n\n"


def json_bytes(data: Any) -> bytes:
    """Compact UTF-8 JSON; a lone surrogate in model text becomes U+FFFD instead of an error."""
    try:
        return orjson.dumps(data)  # once per SSE event: the fast encoder
    except TypeError:
        pass  # a lone surrogate (or a type orjson does not know): the careful way
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        return without_surrogates(text).encode()
