"""AsyncTextIteratorStreamer: text from a generation thread to a consumer, end signal, errors,
cancellation, timeout and the one-generation rule."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import StoppingCriteriaList  # noqa: E402
from transformers.generation.streamers import TextStreamer  # noqa: E402

from langchain_guardrails.llm.providers import hf_streamer  # noqa: E402
from langchain_guardrails.llm.providers.huggingface import AsyncTextIteratorStreamer  # noqa: E402

from .conftest import THREAD_NAME, ForcedReplies  # noqa: E402

REPLY = "Paris is the capital of France."
LIMIT = 10.0  # seconds: no test may hang


def start(
    streamer: AsyncTextIteratorStreamer,
    model: Any,
    tokenizer: Any,
    forced: ForcedReplies,
    prompt: str = "Q:",
    max_new_tokens: int = 200,
) -> threading.Thread:
    inputs = tokenizer(prompt, return_tensors="pt")
    return streamer.run_in_thread(
        model.generate,
        **inputs,
        streamer=streamer,
        max_new_tokens=max_new_tokens,
        prefix_allowed_tokens_fn=forced,
        stopping_criteria=StoppingCriteriaList([streamer.stopping_criteria()]),
        pad_token_id=tokenizer.pad_token_id,
    )


async def drain(streamer: AsyncTextIteratorStreamer) -> list[str]:
    async with asyncio.timeout(LIMIT):
        return [text async for text in streamer]


def test_it_is_a_transformers_text_streamer(tokenizer: Any) -> None:
    assert isinstance(AsyncTextIteratorStreamer(tokenizer), TextStreamer)
    assert hf_streamer.THREAD_NAME == THREAD_NAME


async def test_streams_each_token_and_ends(tiny_model: Any, tokenizer: Any) -> None:
    streamer = AsyncTextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    start(streamer, tiny_model, tokenizer, ForcedReplies(tokenizer, {"Q:": REPLY}))
    assert await drain(streamer) == list(REPLY)
    with pytest.raises(StopAsyncIteration):  # the end signal stays
        await streamer.__anext__()
    assert (streamer.prompt_tokens, streamer.generated_tokens) == (2, len(REPLY) + 1)
    assert streamer.last_token_id == tokenizer.eos_token_id
    await streamer.ajoin()


async def test_prompt_and_special_tokens_are_streamed_unless_skipped(
    tiny_model: Any, tokenizer: Any
) -> None:
    streamer = AsyncTextIteratorStreamer(tokenizer)
    start(streamer, tiny_model, tokenizer, ForcedReplies(tokenizer, {"Q:": "Hi"}))
    assert "".join(await drain(streamer)) == "Q:Hi<eos>"
    await streamer.ajoin()


def test_sync_iteration(tiny_model: Any, tokenizer: Any) -> None:
    streamer = AsyncTextIteratorStreamer(
        tokenizer, skip_prompt=True, timeout=LIMIT, skip_special_tokens=True
    )
    start(streamer, tiny_model, tokenizer, ForcedReplies(tokenizer, {"Q:": REPLY}))
    assert list(streamer) == list(REPLY)
    with pytest.raises(StopIteration):
        next(streamer)
    streamer.join()


def test_built_outside_a_loop_binds_to_the_consumer_loop(tiny_model: Any, tokenizer: Any) -> None:
    streamer = AsyncTextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    forced = ForcedReplies(tokenizer, {"Q:": REPLY})
    start(streamer, tiny_model, tokenizer, forced)
    streamer.join()  # everything is queued before any loop exists
    assert asyncio.run(drain(streamer)) == list(REPLY)


async def test_a_second_loop_is_refused(tiny_model: Any, tokenizer: Any) -> None:
    streamer = AsyncTextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    start(streamer, tiny_model, tokenizer, ForcedReplies(tokenizer, {"Q:": REPLY}))
    assert await streamer.__anext__() == "P"
    errors: list[BaseException] = []

    def other_loop() -> None:
        try:
            asyncio.run(streamer.__anext__())
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_loop)
    thread.start()
    thread.join(LIMIT)
    assert [str(e) for e in errors] == [
        "this AsyncTextIteratorStreamer is bound to another event loop; "
        "iterate it from one loop only"
    ]
    assert "".join(await drain(streamer)) == REPLY[1:]


async def test_generation_error_reaches_the_consumer(tiny_model: Any, tokenizer: Any) -> None:
    streamer = AsyncTextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    start(streamer, tiny_model, tokenizer, ForcedReplies(tokenizer, {"Q:": REPLY}, fail_at=3))
    received = []
    with pytest.raises(RuntimeError, match=r"^forced failure at step 3$"):
        async with asyncio.timeout(LIMIT):
            async for text in streamer:
                received.append(text)
    assert received == list(REPLY[:3])
    assert await drain(streamer) == []  # then the end signal
    await streamer.ajoin()


def test_generation_error_reaches_a_sync_consumer(tiny_model: Any, tokenizer: Any) -> None:
    streamer = AsyncTextIteratorStreamer(tokenizer, skip_prompt=True, timeout=LIMIT)
    start(streamer, tiny_model, tokenizer, ForcedReplies(tokenizer, {"Q:": REPLY}, fail_at=0))
    with pytest.raises(RuntimeError, match=r"^forced failure at step 0$"):
        next(streamer)
    assert list(streamer) == []
    streamer.join()


async def test_cancel_stops_generation_and_the_end_signal_arrives(
    tiny_model: Any, tokenizer: Any
) -> None:
    reply = "x" * 150
    forced = ForcedReplies(tokenizer, {"Q:": reply}, delay=0.002)
    streamer = AsyncTextIteratorStreamer(tokenizer, skip_prompt=True)
    start(streamer, tiny_model, tokenizer, forced)
    first = [await streamer.__anext__() for _ in range(3)]
    streamer.cancel()
    assert streamer.cancelled
    rest = await drain(streamer)
    await streamer.ajoin()
    assert "".join(first + rest) == "x" * len(first + rest)
    assert forced.steps["Q:"] < 60  # stopped soon after the cancel, not after 150


async def test_end_signal_after_the_consumer_task_was_cancelled(
    tiny_model: Any, tokenizer: Any
) -> None:
    forced = ForcedReplies(tokenizer, {"Q:": "x" * 150}, delay=0.002)
    streamer = AsyncTextIteratorStreamer(tokenizer, skip_prompt=True)
    start(streamer, tiny_model, tokenizer, forced)
    consumer = asyncio.ensure_future(drain(streamer))
    await asyncio.sleep(0.02)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    streamer.cancel()
    await drain(streamer)  # the end signal arrives: no hang
    await streamer.ajoin()
    assert forced.steps["Q:"] < 150


async def test_end_signal_when_the_target_never_generates(tokenizer: Any) -> None:
    streamer = AsyncTextIteratorStreamer(tokenizer)
    streamer.run_in_thread(lambda: None)
    assert await drain(streamer) == []
    await streamer.ajoin()


async def test_timeout(tokenizer: Any) -> None:
    streamer = AsyncTextIteratorStreamer(tokenizer, timeout=0.05)
    with pytest.raises(TimeoutError) as info:
        await streamer.__anext__()
    assert str(info.value) == "no text from the generation within 0.05 s (streamer timeout)"
    with pytest.raises(TimeoutError) as info:
        next(streamer)
    assert str(info.value) == "no text from the generation within 0.05 s (streamer timeout)"


async def test_one_streamer_serves_one_generation(tiny_model: Any, tokenizer: Any) -> None:
    streamer = AsyncTextIteratorStreamer(tokenizer, skip_prompt=True)
    start(streamer, tiny_model, tokenizer, ForcedReplies(tokenizer, {"Q:": "Hi"}))
    await drain(streamer)
    await streamer.ajoin()
    with pytest.raises(RuntimeError) as info:
        streamer.put(torch.tensor([[5, 6]]))
    assert str(info.value) == (
        "this AsyncTextIteratorStreamer has already ended; a streamer serves one generation, "
        "create a new one per generate() call"
    )
    with pytest.raises(
        RuntimeError, match=r"^this AsyncTextIteratorStreamer already runs a generation$"
    ):
        streamer.run_in_thread(lambda: None)


def test_batches_are_refused(tokenizer: Any) -> None:
    streamer = AsyncTextIteratorStreamer(tokenizer)
    with pytest.raises(ValueError, match=r"^AsyncTextIteratorStreamer only supports batch size 1$"):
        streamer.put(torch.zeros((2, 3), dtype=torch.long))


def test_clone_copies_the_settings(tokenizer: Any) -> None:
    template = AsyncTextIteratorStreamer(
        tokenizer, skip_prompt=True, timeout=3.0, skip_special_tokens=True
    )
    clone = template.clone(timeout=5.0)
    assert clone is not template
    assert (clone.skip_prompt, clone.timeout, clone.decode_kwargs) == (
        True,
        5.0,
        {"skip_special_tokens": True},
    )


class ByteTokenizer:
    """Token i is byte i: multi-byte characters span several tokens."""

    def decode(self, ids: list[int], **kwargs: Any) -> str:
        return bytes(ids).decode("utf-8", errors="replace")


async def test_multibyte_characters_are_handed_over_whole() -> None:
    streamer = AsyncTextIteratorStreamer(ByteTokenizer(), skip_prompt=True)
    streamer.put(torch.tensor([list(b"Q:")]))
    for byte in "café ü".encode():
        streamer.put(torch.tensor([byte]))
    streamer.end()
    assert await drain(streamer) == ["c", "a", "f", "é", " ", "ü"]


async def test_an_incomplete_character_at_the_end_is_still_handed_over() -> None:
    streamer = AsyncTextIteratorStreamer(ByteTokenizer(), skip_prompt=True)
    streamer.put(torch.tensor([list(b"Q:")]))
    streamer.put(torch.tensor([b"a"[0]]))
    streamer.put(torch.tensor(["é".encode()[0]]))
    streamer.end()
    assert await drain(streamer) == ["a", "\ufffd"]


async def test_long_streams_stay_exact() -> None:
    streamer = AsyncTextIteratorStreamer(ByteTokenizer(), skip_prompt=True)
    streamer.put(torch.tensor([list(b"Q:")]))
    text = "é, ü and ß " * 30
    for byte in text.encode():
        streamer.put(torch.tensor([byte]))
    streamer.end()
    pieces = await drain(streamer)
    assert "".join(pieces) == text
    assert "\ufffd" not in pieces
