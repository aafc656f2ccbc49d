"""One request's reply over an :class:`AsyncTextIteratorStreamer`: chunks cut at stop strings,
and the final chunk with usage counted by the tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk
from transformers.generation.streamers import BaseStreamer

from langchain_guardrails.llm.providers.hf_streamer import AsyncTextIteratorStreamer


class Reply:
    """One request's reply: its streamer (thread, queue, stop flag), its stop strings and its
    final chunk."""

    def __init__(
        self, streamer: AsyncTextIteratorStreamer, stop: Sequence[str], eos: frozenset[int]
    ) -> None:
        self.streamer = streamer
        self.hit_stop = False
        self._stops = [s for s in stop if s]
        self._held = ""  # text that may be the start of a stop string
        self._eos = eos
        self._prompt_reported = False

    def chunk(self, text: str) -> ChatGenerationChunk | None:
        """The chunk for the next text, cut at a stop string (LangChain excludes it)."""
        if self._stops:
            text = self._cut(text)
        if not text:
            return None
        usage = None
        if not self._prompt_reported:
            # Prompt tokens go on the first chunk (as Anthropic does), so a stream stopped by a
            # block still reports the exact prompt count; generated tokens come last.
            self._prompt_reported = True
            prompt = self.streamer.prompt_tokens
            usage = UsageMetadata(input_tokens=prompt, output_tokens=0, total_tokens=prompt)
        return ChatGenerationChunk(message=AIMessageChunk(content=text, usage_metadata=usage))

    def _cut(self, text: str) -> str:
        text = self._held + text
        self._held = ""
        found = [i for i in (text.find(s) for s in self._stops) if i >= 0]
        if found:
            self.hit_stop = True
            return text[: min(found)]
        for size in range(min(len(text), max(map(len, self._stops)) - 1), 0, -1):
            if any(s.startswith(text[-size:]) for s in self._stops):
                self._held = text[-size:]
                return text[:-size]
        return text

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def last_chunk(self, model_name: str) -> ChatGenerationChunk:
        """The final chunk: generated tokens (and the prompt tokens if no text chunk carried
        them) counted by the tokenizer, model name and finish reason."""
        streamer = self.streamer
        prompt = 0 if self._prompt_reported else streamer.prompt_tokens
        usage = UsageMetadata(
            input_tokens=prompt,
            output_tokens=streamer.generated_tokens,
            total_tokens=prompt + streamer.generated_tokens,
        )
        stopped = self.hit_stop or streamer.last_token_id in self._eos
        message = AIMessageChunk(
            content="",
            usage_metadata=usage,
            response_metadata={
                "model_name": model_name,
                "finish_reason": "stop" if stopped else "length",
            },
            chunk_position="last",
        )
        return ChatGenerationChunk(message=message)


class TeeStreamer(BaseStreamer):
    """Feeds our streamer and a user's streamer (e.g. a ``TextStreamer`` that prints)."""

    def __init__(self, ours: AsyncTextIteratorStreamer, theirs: Any) -> None:
        self.ours = ours
        self.theirs = theirs

    def put(self, value: Any) -> None:
        self.ours.put(value)
        self.theirs.put(value)

    def end(self) -> None:
        self.ours.end()
        self.theirs.end()


def token_ids(values: set[Any]) -> frozenset[int]:
    """The ints in ``values`` and in the lists among them (``eos_token_id`` may be either)."""
    ids: set[int] = set()
    for value in values:
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(v for v in value if isinstance(v, int))
    return frozenset(ids)
