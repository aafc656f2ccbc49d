"""`HuggingFacePipelineCompatible`: a chat model over a transformers ``text-generation`` pipeline.

Import it from :mod:`langchain_guardrails.llm.providers.huggingface` (which checks the ``hf``
extra first).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import BaseMessage, get_buffer_string
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, model_validator
from transformers import StoppingCriteriaList, TextGenerationPipeline
from transformers.generation.streamers import BaseStreamer
from typing_extensions import override

from langchain_guardrails.llm.providers.hf_reply import Reply, TeeStreamer, token_ids
from langchain_guardrails.llm.providers.hf_streamer import AsyncTextIteratorStreamer

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


class HuggingFacePipelineCompatible(BaseChatModel):
    """A LangChain chat model over a transformers ``text-generation`` pipeline, streaming tokens
    as they are produced.

    Messages go through the tokenizer's chat template when it has one; otherwise a lone user
    message is the prompt as it is and a conversation becomes ``Role: text`` lines ending with
    ``AI:``. The last streamed chunk carries ``usage_metadata`` counted by the tokenizer (prompt
    tokens, generated tokens). Usage is always reported, so there is no ``stream_usage`` switch.

    ``pipeline`` may also be a LangChain ``HuggingFacePipeline`` (``langchain_huggingface`` or
    ``langchain_community``): its pipeline and ``pipeline_kwargs`` are used.

    A streamer given in ``model_kwargs``, ``pipeline_kwargs``, the call's kwargs or the pipeline's
    own kwargs is honoured: an :class:`AsyncTextIteratorStreamer` (or another queue streamer) is
    the template of the fresh streamer each request gets (same ``skip_prompt``, decode kwargs and
    timeout; ``skip_special_tokens`` defaults to true), so concurrent requests never share a
    queue; any other streamer (e.g. ``TextStreamer``) receives the tokens too.

    Example:
        .. code-block:: python

            from transformers import pipeline
            from langchain_guardrails import Guardrails, RailsConfig
            from langchain_guardrails.llm.providers.huggingface import HuggingFacePipelineCompatible

            pipe = pipeline("text-generation", model="./models/my-model", max_new_tokens=128)
            llm = HuggingFacePipelineCompatible(pipeline=pipe)
            guarded = Guardrails(llm=llm, config=RailsConfig.from_path("./config"))
            async for chunk in guarded.astream("What is the capital of France?"):
                print(chunk.content, end="")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    pipeline: Any = Field(exclude=True)
    """The transformers ``text-generation`` pipeline (shared by all requests, never modified)."""
    model_id: str | None = None
    """Name reported as ``model_name`` (usage handlers key on it); defaults to the model's path."""
    pipeline_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of every pipeline call, e.g. ``max_new_tokens`` or ``temperature``."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """NeMo Guardrails' name for the same (its documented streaming setup puts ``streamer`` and
    generation settings here); ``streaming`` is ignored: this model always streams."""
    timeout: float | None = None
    """Seconds to wait for the next token before ``TimeoutError`` (``None``: no limit)."""

    @model_validator(mode="before")
    @classmethod
    def _unwrap_langchain_pipeline(cls, data: Any) -> Any:
        # A LangChain HuggingFacePipeline is duck-typed: anything whose `.pipeline` is one.
        if not isinstance(data, dict):
            return data
        source = data.get("pipeline")
        inner = getattr(source, "pipeline", None)
        if source is None or isinstance(source, TextGenerationPipeline) or inner is None:
            return data
        data = {**data, "pipeline": inner}
        if isinstance(getattr(source, "model_id", None), str):
            data.setdefault("model_id", source.model_id)
        if isinstance(getattr(source, "pipeline_kwargs", None), dict):
            data.setdefault("pipeline_kwargs", dict(source.pipeline_kwargs))
        streamer = (getattr(source, "model_kwargs", None) or {}).get("streamer")
        if streamer is not None and "model_kwargs" not in data:
            data["model_kwargs"] = {"streamer": streamer}
        return data

    @model_validator(mode="after")
    def _check_pipeline(self) -> HuggingFacePipelineCompatible:
        pipe = self.pipeline
        if not isinstance(pipe, TextGenerationPipeline):
            task = getattr(pipe, "task", None)
            kind = f"a {task!r} pipeline" if task else type(pipe).__name__
            raise ValueError(
                "pipeline must be a transformers 'text-generation' pipeline "
                f"(or a LangChain HuggingFacePipeline wrapping one), got {kind}"
            )
        if pipe.tokenizer is None:
            raise ValueError("the text-generation pipeline has no tokenizer; pass tokenizer=...")
        return self

    @classmethod
    def from_llm(cls, llm: Any, **overrides: Any) -> HuggingFacePipelineCompatible:
        """Wrap a LangChain ``HuggingFacePipeline``: same pipeline, real streaming.

        Example:
            .. code-block:: python

                llm = HuggingFacePipelineCompatible.from_llm(HuggingFacePipeline(pipeline=pipe))
        """
        return cls(pipeline=llm, **overrides)

    @classmethod
    def from_model_id(
        cls,
        model_id: str,
        *,
        timeout: float | None = None,
        pipeline_kwargs: dict[str, Any] | None = None,
        **pipeline_options: Any,
    ) -> HuggingFacePipelineCompatible:
        """Load a model folder (or hub id) into a ``text-generation`` pipeline.

        ``pipeline_options`` go to ``transformers.pipeline``: ``device``, ``dtype``,
        ``trust_remote_code``, ``model_kwargs`` (for ``from_pretrained``) and generation defaults
        such as ``max_new_tokens`` or ``temperature``.

        Example:
            .. code-block:: python

                llm = HuggingFacePipelineCompatible.from_model_id(
                    "./models/my-model", device="cpu", max_new_tokens=128
                )
        """
        from transformers import pipeline

        pipe = pipeline("text-generation", model=model_id, **pipeline_options)
        return cls(
            pipeline=pipe, model_id=model_id, timeout=timeout, pipeline_kwargs=pipeline_kwargs or {}
        )

    @property
    def model_name(self) -> str:
        """The reported model name: ``model_id``, else the model's path."""
        if self.model_id:
            return self.model_id
        name = getattr(self.pipeline.model, "name_or_path", "")
        return name if isinstance(name, str) and name else "huggingface_pipeline"

    @property
    @override
    def _llm_type(self) -> str:
        return "huggingface-pipeline-compatible"

    @property
    @override
    def _identifying_params(self) -> dict[str, Any]:
        calls = {**self.model_kwargs, **self.pipeline_kwargs}
        return {
            "model_id": self.model_name,
            "pipeline_kwargs": {k: v for k, v in calls.items() if k != "streamer"},
        }

    # -- generation -----------------------------------------------------------------------------

    @override
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._start(messages, stop, kwargs)
        streamer = reply.streamer
        try:
            for text in streamer:
                chunk = reply.chunk(text)
                if chunk is not None:
                    yield chunk
                if reply.hit_stop:
                    break
            else:
                tail = reply.chunk(reply.flush())
                if tail is not None:
                    yield tail
            streamer.cancel()
            streamer.join()
            yield reply.last_chunk(self.model_name)
        finally:
            streamer.cancel()
            streamer.join()

    @override
    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        reply = self._start(messages, stop, kwargs)
        streamer = reply.streamer
        try:
            async for text in streamer:
                chunk = reply.chunk(text)
                if chunk is not None:
                    yield chunk
                if reply.hit_stop:
                    break
            else:
                tail = reply.chunk(reply.flush())
                if tail is not None:
                    yield tail
            streamer.cancel()
            await streamer.ajoin()
            yield reply.last_chunk(self.model_name)
        finally:
            # Closed early (a rail blocked, the client left, the task was cancelled): stop
            # generate() at its next step and wait for the worker thread to end.
            streamer.cancel()
            await streamer.ajoin()

    @override
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    @override
    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))

    def _start(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> Reply:
        """Start one request in its own thread, with its own streamer and stop flag."""
        pipe = self.pipeline
        defaults: dict[str, Any] = getattr(pipe, "_forward_params", None) or {}
        call = {**self.model_kwargs, **self.pipeline_kwargs, **kwargs}
        call.pop("streaming", None)
        streamer, extra = self._streamers(call.pop("streamer", None) or defaults.get("streamer"))
        criteria = call.pop("stopping_criteria", None) or defaults.get("stopping_criteria") or ()
        call["stopping_criteria"] = StoppingCriteriaList([*criteria, streamer.stopping_criteria()])
        call["streamer"] = streamer if extra is None else TeeStreamer(streamer, extra)
        if stop:
            call["stop_sequence"] = list(stop)
        eos = {call.get("eos_token_id"), pipe.model.generation_config.eos_token_id}
        eos.add(pipe.tokenizer.eos_token_id)
        reply = Reply(streamer, stop or (), token_ids(eos))
        streamer.run_in_thread(pipe, self._prompt(messages), **call)
        return reply

    def _streamers(self, given: Any) -> tuple[AsyncTextIteratorStreamer, BaseStreamer | None]:
        """This request's streamer, and a user streamer that gets the tokens too."""
        tokenizer = self.pipeline.tokenizer
        if given is None:
            fresh = AsyncTextIteratorStreamer(
                tokenizer, skip_prompt=True, timeout=self.timeout, skip_special_tokens=True
            )
            return fresh, None
        if isinstance(given, AsyncTextIteratorStreamer) or hasattr(given, "text_queue"):
            # A queue streamer is meant to be read by us: copy its settings, never share it.
            decode_kwargs = {"skip_special_tokens": True, **getattr(given, "decode_kwargs", {})}
            timeout = getattr(given, "timeout", None)
            own_tokenizer = getattr(given, "tokenizer", None)
            fresh = AsyncTextIteratorStreamer(
                tokenizer if own_tokenizer is None else own_tokenizer,
                skip_prompt=getattr(given, "skip_prompt", True),
                timeout=self.timeout if timeout is None else timeout,
                **decode_kwargs,
            )
            return fresh, None
        fresh, _ = self._streamers(None)
        return fresh, given

    def _prompt(self, messages: Sequence[BaseMessage]) -> str | list[dict[str, Any]]:
        if getattr(self.pipeline.tokenizer, "chat_template", None):
            # The pipeline applies the template (with the generation prompt) to a chat.
            return [{"role": _role(m), "content": m.text} for m in messages]
        return plain_prompt(messages)


def plain_prompt(messages: Sequence[BaseMessage]) -> str:
    """The prompt for a tokenizer without a chat template: a lone user message as it is, a
    conversation as ``Role: text`` lines ending with an ``AI:`` cue.

    Example:
        .. code-block:: python

            plain_prompt([HumanMessage("The capital of France is")])  # 'The capital of France is'
    """
    if len(messages) == 1 and messages[0].type == "human":
        return messages[0].text
    return get_buffer_string(messages) + "\nAI:"


def _role(message: BaseMessage) -> str:
    role = getattr(message, "role", None)
    return role if isinstance(role, str) else _ROLES.get(message.type, message.type)
