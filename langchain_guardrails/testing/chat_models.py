"""Test doubles for guarded streaming: use them in your own tests, notebooks and demos.

``FakeStreamingChatModel`` streams a fixed text as given chunks (optionally with a delay per
chunk), reports usage like a real provider, and counts how many chunks it really produced, so a
test can prove that a block stopped generation. ``ScriptedChatModel`` picks its reply by regex on
the last user message; it backs ``engine: scripted`` in ``config.yml`` for offline demos.

Example:
    .. code-block:: python

        from langchain_guardrails.testing import FakeStreamingChatModel

        llm = FakeStreamingChatModel(chunks=["Paris ", "is ", "the ", "capital."])
        assert llm.invoke("Capital of France?").content == "Paris is the capital."
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import BaseModel, ConfigDict, Field

_UNIT = re.compile(r"\s*\S+\s*|\s+")


def split_units(text: str) -> list[str]:
    """Split text into word-like units (each keeps its trailing whitespace); joins back exactly."""
    return _UNIT.findall(text)


class ProductionStats:
    """Counts what a fake model produced; shared by copies of the model (``model_copy``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.chunks_produced = 0
        self.last_call_chunks = 0
        self.last_call_stop: list[str] | None = None
        """The ``stop`` the last call received."""
        self.last_call_kwargs: dict[str, Any] = {}
        """The other keyword arguments the last call received (``tools``, provider kwargs)."""

    def _start(self, stop: list[str] | None = None, kwargs: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.calls += 1
            self.last_call_chunks = 0
            self.last_call_stop = stop
            self.last_call_kwargs = dict(kwargs or {})

    def _produced(self) -> None:
        with self._lock:
            self.chunks_produced += 1
            self.last_call_chunks += 1


class FakeStreamingChatModel(BaseChatModel):
    """A chat model that streams ``chunks`` (or ``text`` split into word units).

    Usage: ``input_tokens`` is the number of whitespace-separated words in the prompt,
    ``output_tokens`` the number of chunks. Like ``ChatOpenAI``, streamed calls report usage on
    the last chunk only when ``stream_usage`` is true (``Guardrails`` sets it on its copy);
    with ``input_usage_first`` the input tokens come on the first chunk instead, as Anthropic does.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    chunks: list[str] = Field(default_factory=list)
    """The chunks to stream, in order."""
    text: str | None = None
    """Alternative to ``chunks``: a text split into word units."""
    delay: float = 0.0
    """Seconds to sleep before each chunk."""
    stream_usage: bool = False
    """Report usage when streaming (as ``ChatOpenAI``'s field of the same name)."""
    input_usage_first: bool = False
    """Report input tokens on the first chunk and output tokens on the last."""
    model_name: str = "fake-streaming-model"
    """Reported in ``response_metadata["model_name"]`` (usage handlers key on it)."""
    fail_after: int | None = None
    """Raise ``RuntimeError`` after this many chunks (to test error paths)."""
    stats: ProductionStats = Field(default_factory=ProductionStats, exclude=True)
    """Production counters; ``stats.last_call_chunks`` is what the last call produced."""

    @property
    def _llm_type(self) -> str:
        return "fake-streaming-chat-model"

    def reply_chunks(self, messages: list[BaseMessage]) -> list[str]:
        """The chunks this model streams for ``messages``."""
        return list(self.chunks) if self.chunks else split_units(self.text or "")

    def _input_tokens(self, messages: list[BaseMessage]) -> int:
        return sum(len(m.text.split()) for m in messages)

    def _usage(self, inputs: int, outputs: int) -> UsageMetadata:
        return UsageMetadata(
            input_tokens=inputs, output_tokens=outputs, total_tokens=inputs + outputs
        )

    def _plan(self, messages: list[BaseMessage], **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        """Every chunk of one streamed reply, built lazily (the first chunk costs one chunk);
        ``kwargs`` are the call's (e.g. ``tools``)."""
        parts = self.reply_chunks(messages)
        inputs = self._input_tokens(messages)
        for index, part in enumerate(parts):
            usage = None
            if self.stream_usage and self.input_usage_first and index == 0:
                usage = self._usage(inputs, 0)
            yield ChatGenerationChunk(message=AIMessageChunk(content=part, usage_metadata=usage))
        if self.stream_usage:
            final = self._usage(0 if self.input_usage_first else inputs, len(parts))
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    usage_metadata=final,
                    response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
                )
            )

    def _check_failure(self, produced: int) -> None:
        if self.fail_after is not None and produced >= self.fail_after:
            raise RuntimeError(f"fake model failed after {produced} chunks")

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self.stats._start(stop, kwargs)
        for produced, chunk in enumerate(self._plan(messages, **kwargs)):
            self._check_failure(produced)
            if self.delay:
                time.sleep(self.delay)
            self.stats._produced()
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        self.stats._start(stop, kwargs)
        for produced, chunk in enumerate(self._plan(messages, **kwargs)):
            self._check_failure(produced)
            if self.delay:
                await asyncio.sleep(self.delay)
            self.stats._produced()
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.stats._start(stop, kwargs)
        parts = self.reply_chunks(messages)
        for produced in range(len(parts)):
            self._check_failure(produced)
            self.stats._produced()
        message = AIMessage(
            content="".join(parts),
            usage_metadata=self._usage(self._input_tokens(messages), len(parts)),
            response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


class ScriptedReply(BaseModel):
    """One rule of a :class:`ScriptedChatModel`: reply ``reply`` when ``match`` is found."""

    model_config = ConfigDict(extra="forbid")

    match: str
    """Regular expression searched (case-insensitively) in the last user message."""
    reply: str


class ScriptedChatModel(FakeStreamingChatModel):
    """A fake model whose reply depends on the last user message (``engine: scripted``).

    Example ``config.yml``:

    .. code-block:: yaml

        models:
          - type: main
            engine: scripted
            parameters:
              delay: 0.02
              replies:
                - {match: "capital of france", reply: "The capital of France is Paris."}
              default_reply: "I can only talk about capitals."
    """

    replies: list[ScriptedReply] = Field(default_factory=list)
    default_reply: str = "I have no scripted answer for that."
    model_name: str = "scripted"

    @property
    def _llm_type(self) -> str:
        return "scripted-chat-model"

    def reply_chunks(self, messages: list[BaseMessage]) -> list[str]:
        last = next((m.text for m in reversed(messages) if m.type == "human"), "")
        for rule in self.replies:
            if re.search(rule.match, last, re.IGNORECASE):
                return split_units(rule.reply)
        return split_units(self.default_reply)


class FakeTurn(BaseModel):
    """One scripted reply of a :class:`FakeToolCallingModel`."""

    model_config = ConfigDict(extra="forbid")

    text: str = ""
    """Answer text, streamed in word units."""
    reasoning: str = ""
    """Reasoning text, streamed in word units before the answer."""
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    """Tool calls ``{"name", "args", "id"}``, streamed after the text as argument fragments;
    ``args`` as a string is the raw argument text (JSON escapes and all), streamed as given."""
    tool_call_chunks: list[dict[str, Any]] = Field(default_factory=list)
    """Raw ``tool_call_chunks`` deltas (``{"name", "args", "id", "index"}``, any of them
    missing), one per chunk after ``tool_calls``: for providers that frame calls their own way
    (no ``index``, a name split over deltas...)."""


class FakeToolCallingModel(FakeStreamingChatModel):
    """A chat model that plays scripted turns, with tool calls, reasoning and logprobs.

    Turn *k* is played when the input holds *k* AI messages, so an agent loop walks the script
    and the model itself keeps no state between calls. ``bind_tools`` works as a provider's
    does (the tools reach the call as the ``tools`` keyword); the names of the tools a call got
    are reported in the last chunk's ``response_metadata["tools"]``.

    Example:
        .. code-block:: python

            model = FakeToolCallingModel(turns=[
                FakeTurn(tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "c1"}]),
                FakeTurn(text="It is sunny in Paris."),
            ])
    """

    turns: list[FakeTurn] = Field(default_factory=list)
    """The scripted replies, in order (the last one repeats)."""
    reasoning_format: Literal["blocks", "kwarg"] = "blocks"
    """Reasoning as ``{"type": "reasoning"}`` content blocks, or ``reasoning_content``."""
    logprobs: bool = False
    """Put per-token logprobs in each text chunk's ``response_metadata`` (as OpenAI does)."""
    stream_usage: bool = True
    model_name: str = "fake-tool-model"

    @property
    def _llm_type(self) -> str:
        return "fake-tool-calling-model"

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        """Bind tools the way providers do: converted, passed as ``tools=`` on each call."""
        from langchain_core.utils.function_calling import convert_to_openai_tool

        converted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=converted, **kwargs)

    def turn(self, messages: list[BaseMessage]) -> FakeTurn:
        """The turn played for ``messages``."""
        if not self.turns:
            return FakeTurn(text=" ".join(self.reply_chunks(messages)))
        index = sum(1 for m in messages if m.type == "ai")
        return self.turns[min(index, len(self.turns) - 1)]

    def _turn_chunks(self, messages: list[BaseMessage], tools: Any) -> list[AIMessageChunk]:
        turn = self.turn(messages)
        out: list[AIMessageChunk] = []
        for part in split_units(turn.reasoning):
            if self.reasoning_format == "blocks":
                out.append(AIMessageChunk(content=[{"type": "reasoning", "reasoning": part}]))
            else:
                out.append(
                    AIMessageChunk(content="", additional_kwargs={"reasoning_content": part})
                )
        for part in split_units(turn.text):
            metadata: dict[str, Any] = {}
            if self.logprobs:
                metadata["logprobs"] = {"content": [{"token": part, "logprob": -0.25}]}
            out.append(AIMessageChunk(content=part, response_metadata=metadata))
        for index, call in enumerate(turn.tool_calls):
            import json

            args = call.get("args", {})
            args = args if isinstance(args, str) else json.dumps(args)
            pieces = [args[i : i + 7] for i in range(0, len(args), 7)] or [""]
            for n, piece in enumerate(pieces):
                out.append(
                    AIMessageChunk(
                        content="",
                        tool_call_chunks=[
                            {
                                "name": call["name"] if n == 0 else None,
                                "args": piece,
                                "id": call.get("id") if n == 0 else None,
                                "index": index,
                                "type": "tool_call_chunk",
                            }
                        ],
                    )
                )
        for delta in turn.tool_call_chunks:
            raw = {"name": None, "args": None, "id": None, "index": None, **delta}
            out.append(AIMessageChunk(content="", tool_call_chunks=[raw]))
        names = [t.get("function", {}).get("name") for t in tools or []]
        usage = self._usage(self._input_tokens(messages), len(out)) if self.stream_usage else None
        out.append(
            AIMessageChunk(
                content="",
                usage_metadata=usage,
                response_metadata={
                    "model_name": self.model_name,
                    "finish_reason": "tool_calls"
                    if turn.tool_calls or turn.tool_call_chunks
                    else "stop",
                    "tools": names,
                },
            )
        )
        return out

    def _plan(self, messages: list[BaseMessage], **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for chunk in self._turn_chunks(messages, kwargs.get("tools")):
            yield ChatGenerationChunk(message=chunk)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        from langchain_core.messages.ai import add_ai_message_chunks

        chunks = [c.message for c in self._stream(messages, stop, run_manager, **kwargs)]
        merged = add_ai_message_chunks(*cast("list[AIMessageChunk]", chunks))
        data = merged.model_dump(exclude={"type", "tool_call_chunks", "chunk_position"})
        return ChatResult(generations=[ChatGeneration(message=AIMessage(**data))])


__all__ = [
    "FakeStreamingChatModel",
    "FakeToolCallingModel",
    "FakeTurn",
    "ProductionStats",
    "ScriptedChatModel",
    "ScriptedReply",
    "split_units",
]
