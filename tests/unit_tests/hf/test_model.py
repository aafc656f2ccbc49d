"""HuggingFacePipelineCompatible: real token streaming, usage, prompts, stop strings, honoured
streamers, concurrency, cancellation, errors, and wrapping LangChain's HuggingFacePipeline."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Generator
from typing import Any, cast

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from transformers.generation.streamers import BaseStreamer

from langchain_guardrails.llm.providers.hf_wrap import wrap_pipeline_llm
from langchain_guardrails.llm.providers.huggingface import (
    AsyncTextIteratorStreamer,
    HuggingFacePipelineCompatible,
    plain_prompt,
)
from langchain_guardrails.testing import FakeStreamingChatModel

from .conftest import ForcedReplies, HuggingFacePipeline, build_pipeline, generation_threads

REPLY = "Paris is the capital of France."
LONG = "x" * 200
LIMIT = 10.0


def model(pipe: Any, forced: ForcedReplies, **fields: Any) -> HuggingFacePipelineCompatible:
    kwargs = {"prefix_allowed_tokens_fn": forced, "max_new_tokens": 300}
    kwargs.update(fields.pop("pipeline_kwargs", {}))
    return HuggingFacePipelineCompatible(pipeline=pipe, pipeline_kwargs=kwargs, **fields)


def text_of(chunks: list[Any]) -> str:
    return "".join(c.content for c in chunks)


# -- streaming ---------------------------------------------------------------------------------


def test_sync_stream_yields_tokens_before_generation_ends(pipe: Any, tokenizer: Any) -> None:
    forced = ForcedReplies(tokenizer, {"Q:": REPLY}, delay=0.003)
    arrivals = []
    chunks = []
    for chunk in model(pipe, forced).stream("Q:"):
        arrivals.append(time.monotonic())
        chunks.append(chunk)
    assert [c.content for c in chunks[:-1]] == list(REPLY)  # one chunk per token
    before_end = [t for t in arrivals[:-1] if t < forced.ended_at("Q:")]
    assert len(before_end) >= len(REPLY) // 2


async def test_async_stream_yields_tokens_before_generation_ends(pipe: Any, tokenizer: Any) -> None:
    forced = ForcedReplies(tokenizer, {"Q:": REPLY}, delay=0.003)
    arrivals = []
    chunks = []
    async with asyncio.timeout(LIMIT):
        async for chunk in model(pipe, forced).astream("Q:"):
            arrivals.append(time.monotonic())
            chunks.append(chunk)
    assert [c.content for c in chunks[:-1]] == list(REPLY)
    before_end = [t for t in arrivals[:-1] if t < forced.ended_at("Q:")]
    assert len(before_end) >= len(REPLY) // 2


def test_invoke_and_ainvoke(pipe: Any, tokenizer: Any) -> None:
    llm = model(pipe, ForcedReplies(tokenizer, {"Q:": REPLY}))
    assert llm.invoke("Q:").content == REPLY
    assert asyncio.run(llm.ainvoke("Q:")).content == REPLY


# -- usage -------------------------------------------------------------------------------------


async def test_usage_equals_the_tokenizer_counts(pipe: Any, tokenizer: Any) -> None:
    forced = ForcedReplies(tokenizer, {"Q:": REPLY})
    llm = model(pipe, forced)
    chunks = [c async for c in llm.astream("Say it. Q:")]
    own = pipe("Say it. Q:", return_tensors=True, prefix_allowed_tokens_fn=forced)
    prompt_tokens = len(tokenizer("Say it. Q:").input_ids)
    generated = len(own[0]["generated_token_ids"]) - prompt_tokens
    assert generated == len(REPLY) + 1  # the reply and EOS
    expected = {
        "input_tokens": prompt_tokens,
        "output_tokens": generated,
        "total_tokens": prompt_tokens + generated,
    }
    # The prompt count rides on the first text chunk (a blocked stream still has it exactly),
    # the generated count on the last; summed, the stream gives the tokenizer's totals.
    first, last = chunks[0], chunks[-1]
    assert first.usage_metadata == {
        "input_tokens": prompt_tokens,
        "output_tokens": 0,
        "total_tokens": prompt_tokens,
    }
    assert last.usage_metadata == {
        "input_tokens": 0,
        "output_tokens": generated,
        "total_tokens": generated,
    }
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.usage_metadata == expected
    assert last.response_metadata == {"model_name": "huggingface_pipeline", "finish_reason": "stop"}
    assert last.chunk_position == "last"
    assert llm.invoke("Say it. Q:").usage_metadata == expected


def test_finish_reason_length(pipe: Any, tokenizer: Any) -> None:
    llm = model(
        pipe, ForcedReplies(tokenizer, {"Q:": REPLY}), pipeline_kwargs={"max_new_tokens": 5}
    )
    message = llm.invoke("Q:")
    assert message.content == REPLY[:5]
    assert message.response_metadata["finish_reason"] == "length"
    assert message.usage_metadata == {"input_tokens": 2, "output_tokens": 5, "total_tokens": 7}


# -- prompts -----------------------------------------------------------------------------------


def test_chat_template_is_applied(chat_pipe: Any, chat_tokenizer: Any) -> None:
    forced = ForcedReplies(chat_tokenizer, {"<assistant>": REPLY})
    messages = [SystemMessage("Be brief."), HumanMessage("Capital of France?")]
    message = model(chat_pipe, forced).invoke(messages)
    templated = chat_tokenizer.apply_chat_template(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert templated == "<system>Be brief.\n<user>Capital of France?\n<assistant>"
    assert message.content == REPLY
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == len(chat_tokenizer(templated).input_ids)


def test_plain_prompt_without_chat_template(pipe: Any, tokenizer: Any) -> None:
    assert plain_prompt([HumanMessage("The capital of France is")]) == "The capital of France is"
    conversation = [
        SystemMessage("Be brief."),
        HumanMessage("Hi"),
        AIMessage("Hello"),
        HumanMessage("Q"),
    ]
    assert plain_prompt(conversation) == "System: Be brief.\nHuman: Hi\nAI: Hello\nHuman: Q\nAI:"
    forced = ForcedReplies(tokenizer, {"Human: Q\nAI:": " Paris."})
    message = model(pipe, forced).invoke(conversation)
    assert message.content == " Paris."
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == len(plain_prompt(conversation))


# -- stop strings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "expected"),
    [(["capital"], "Paris is the "), (["France.", "is"], "Par"), (["zzz"], REPLY)],
)
async def test_stop_strings_end_the_reply_before_them(
    pipe: Any, tokenizer: Any, stop: list[str], expected: str
) -> None:
    forced = ForcedReplies(tokenizer, {"Q:": REPLY})
    llm = model(pipe, forced)
    chunks = [c async for c in llm.astream("Q:", stop=stop)]
    assert text_of(chunks) == expected
    assert chunks[-1].response_metadata["finish_reason"] == "stop"
    assert llm.invoke("Q:", stop=stop).content == expected


# -- concurrency -------------------------------------------------------------------------------


async def test_concurrent_streams_over_one_pipeline_do_not_interleave(
    pipe: Any, tokenizer: Any
) -> None:
    replies = {"A:": "alpha " * 12, "B:": "bravo " * 12}
    forced = ForcedReplies(tokenizer, replies, delay=0.002)
    llm = model(pipe, forced)

    async def run(prompt: str) -> str:
        return text_of([c async for c in llm.astream(prompt)])

    async with asyncio.timeout(LIMIT):
        results = list(await asyncio.gather(run("A:"), run("B:")))
    assert results == [replies["A:"], replies["B:"]]
    a, b = forced.times["A:"], forced.times["B:"]
    assert a[0] < b[-1] and b[0] < a[-1]  # they really ran at the same time


def test_concurrent_sync_streams_do_not_interleave(pipe: Any, tokenizer: Any) -> None:
    replies = {"A:": "alpha " * 12, "B:": "bravo " * 12}
    llm = model(pipe, ForcedReplies(tokenizer, replies, delay=0.002))
    results: dict[str, str] = {}

    def run(prompt: str) -> None:
        results[prompt] = text_of(list(llm.stream(prompt)))

    threads = [threading.Thread(target=run, args=(p,)) for p in replies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LIMIT)
    assert results == replies


# -- cancellation and errors -------------------------------------------------------------------


def test_closing_a_sync_stream_stops_generation_at_once(pipe: Any, tokenizer: Any) -> None:
    forced = ForcedReplies(tokenizer, {"Q:": LONG}, delay=0.002)
    stream = cast(Generator[Any, None, None], model(pipe, forced).stream("Q:"))
    assert [next(stream).content for _ in range(3)] == ["x", "x", "x"]
    stream.close()
    assert generation_threads() == []  # joined before close() returned
    assert forced.steps["Q:"] < 50  # of 200


async def test_closing_an_async_stream_stops_generation(pipe: Any, tokenizer: Any) -> None:
    forced = ForcedReplies(tokenizer, {"Q:": LONG}, delay=0.002)
    stream = cast(AsyncGenerator[Any, None], model(pipe, forced)._astream([HumanMessage("Q:")]))
    assert [(await stream.__anext__()).message.content for _ in range(3)] == ["x", "x", "x"]
    await stream.aclose()
    assert generation_threads() == []
    assert forced.steps["Q:"] < 50  # of 200


async def test_cancelling_the_consumer_task_stops_generation(pipe: Any, tokenizer: Any) -> None:
    forced = ForcedReplies(tokenizer, {"Q:": LONG}, delay=0.002)
    llm = model(pipe, forced)
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in llm.astream("Q:"):
            started.set()

    task = asyncio.ensure_future(consume())
    async with asyncio.timeout(LIMIT):
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert generation_threads() == []  # the model's cleanup waited for the thread
    assert forced.steps["Q:"] < 80  # of 200


async def test_generation_errors_reach_the_caller(pipe: Any, tokenizer: Any) -> None:
    llm = model(pipe, ForcedReplies(tokenizer, {"Q:": REPLY}, fail_at=4))
    received = []
    with pytest.raises(RuntimeError, match=r"^forced failure at step 4$"):
        async for chunk in llm.astream("Q:"):
            received.append(chunk.content)
    assert received == list(REPLY[:4])
    with pytest.raises(RuntimeError, match=r"^forced failure at step 4$"):
        llm.invoke("Q:")


async def test_bad_generation_kwargs_reach_the_caller(pipe: Any, tokenizer: Any) -> None:
    llm = model(pipe, ForcedReplies(tokenizer, {"Q:": REPLY}))
    with pytest.raises(ValueError, match="max_new_tokens"):
        await llm.ainvoke("Q:", max_new_tokens=-1)


async def test_timeout_waiting_for_a_token(pipe: Any, tokenizer: Any) -> None:
    forced = ForcedReplies(tokenizer, {"Q:": REPLY}, delay=0.5)
    llm = model(pipe, forced, timeout=0.05)
    with pytest.raises(TimeoutError) as info:
        await llm.ainvoke("Q:")
    assert str(info.value) == "no text from the generation within 0.05 s (streamer timeout)"
    assert generation_threads() == []
    assert forced.steps["Q:"] <= 2


# -- streamers given by the user -----------------------------------------------------------------


async def test_nemo_style_streamer_is_a_template_never_a_shared_queue(
    tiny_model: Any, tokenizer: Any
) -> None:
    streamer = AsyncTextIteratorStreamer(tokenizer, skip_prompt=True)
    replies = {"A:": "alpha " * 10, "B:": "bravo " * 10}
    forced = ForcedReplies(tokenizer, replies, delay=0.002)
    params = {"max_new_tokens": 100, "streamer": streamer, "prefix_allowed_tokens_fn": forced}
    nemo_pipe = build_pipeline(tiny_model, tokenizer, **params)
    llm = HuggingFacePipelineCompatible(
        pipeline=nemo_pipe, model_kwargs={**params, "streaming": True}
    )

    async def run(prompt: str) -> str:
        return text_of([c async for c in llm.astream(prompt)])

    async with asyncio.timeout(LIMIT):
        results = list(await asyncio.gather(run("A:"), run("B:")))
        assert results == [replies["A:"], replies["B:"]]
        # Only on the pipeline: still honoured.
        plain = HuggingFacePipelineCompatible(pipeline=nemo_pipe)
        assert (await plain.ainvoke("A:")).content == replies["A:"]
        assert (await plain.ainvoke("B:")).content == replies["B:"]
    assert (streamer.prompt_tokens, streamer.generated_tokens) == (0, 0)  # never fed


def test_template_settings_are_honoured(pipe: Any, tokenizer: Any) -> None:
    template = AsyncTextIteratorStreamer(tokenizer, skip_prompt=False, skip_special_tokens=False)
    llm = model(pipe, ForcedReplies(tokenizer, {"Q:": "Hi"}), model_kwargs={"streamer": template})
    assert llm.invoke("Q:").content == "Q:Hi<eos>"
    streamer_in_call = AsyncTextIteratorStreamer(tokenizer, skip_prompt=False)
    assert llm.invoke("Q:", streamer=streamer_in_call).content == "Q:Hi"


class Recorder(BaseStreamer):
    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.ends = 0

    def put(self, value: Any) -> None:
        self.tokens.extend(value.flatten().tolist())

    def end(self) -> None:
        self.ends += 1


def test_other_streamers_receive_the_tokens_too(pipe: Any, tokenizer: Any) -> None:
    recorder = Recorder()
    llm = model(
        pipe, ForcedReplies(tokenizer, {"Q:": "Hi"}), pipeline_kwargs={"streamer": recorder}
    )
    assert llm.invoke("Q:").content == "Hi"
    assert llm.invoke("Q:").content == "Hi"
    assert tokenizer.decode(recorder.tokens) == "Q:Hi<eos>Q:Hi<eos>"
    assert recorder.ends == 2


# -- construction and wrapping -------------------------------------------------------------------


def test_rejects_what_is_not_a_text_generation_pipeline() -> None:
    with pytest.raises(ValueError) as info:
        HuggingFacePipelineCompatible(pipeline=42)
    assert (
        "pipeline must be a transformers 'text-generation' pipeline "
        "(or a LangChain HuggingFacePipeline wrapping one), got int"
    ) in str(info.value)


def test_wraps_a_langchain_huggingface_pipeline(pipe: Any, tokenizer: Any) -> None:
    forced = ForcedReplies(tokenizer, {"Q:": REPLY})
    lc = HuggingFacePipeline(
        pipeline=pipe,
        pipeline_kwargs={"prefix_allowed_tokens_fn": forced, "max_new_tokens": 50},
        model_kwargs={"trust_remote_code": True},  # loading kwargs: not generation kwargs
    )
    for llm in (
        HuggingFacePipelineCompatible(pipeline=lc),
        HuggingFacePipelineCompatible.from_llm(lc),
        wrap_pipeline_llm(lc),
    ):
        assert isinstance(llm, HuggingFacePipelineCompatible)
        assert llm.pipeline is pipe
        assert llm.model_name == "local/tiny-gpt2"
        chunks = list(llm.stream("Q:"))
        assert [c.content for c in chunks[:-1]] == list(REPLY)
        assert chunks[-1].response_metadata["model_name"] == "local/tiny-gpt2"


def test_wrap_leaves_other_models_alone(pipe: Any) -> None:
    fake = FakeStreamingChatModel(text="hi")
    ours = HuggingFacePipelineCompatible(pipeline=pipe)
    assert wrap_pipeline_llm(fake) is fake
    assert wrap_pipeline_llm(ours) is ours


def test_public_names() -> None:
    from langchain_guardrails.llm.providers import huggingface

    assert huggingface.__all__ == [
        "THREAD_NAME",
        "AsyncTextIteratorStreamer",
        "HuggingFacePipelineCompatible",
        "from_model_config",
        "plain_prompt",
    ]
    for name in huggingface.__all__:
        assert getattr(huggingface, name) is not None
