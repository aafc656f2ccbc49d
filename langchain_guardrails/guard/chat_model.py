"""`Guardrails`: a chat model that applies input, output and tool rails while it streams."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from typing import Any, cast

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, LLMResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import (
    ensure_config,
    run_in_executor,
)
from pydantic import ConfigDict, Field, PrivateAttr
from typing_extensions import override

from langchain_guardrails.config.rails_config import RailsConfig, as_rails_config
from langchain_guardrails.engine.rail_engine import RailEngine, Stage
from langchain_guardrails.engine.results import RailCheck, aggregate
from langchain_guardrails.guard.callbacks import GUARDED_RUN, async_run, reported
from langchain_guardrails.guard.identity import WrappedModelIdentity
from langchain_guardrails.guard.pipeline import GuardPipeline
from langchain_guardrails.guard.structured_output import parse_structured
from langchain_guardrails.llm import sync_bridge as _bridge
from langchain_guardrails.llm.messages import to_messages
from langchain_guardrails.llm.model_parts import LLMParts, chat_model_of, rebind, split_llm
from langchain_guardrails.llm.model_stream import main_model, with_stream_usage
from langchain_guardrails.llm.providers.hf_wrap import wrap_pipeline_llm
from langchain_guardrails.streaming.speculative import refuse_rewriting_input
from langchain_guardrails.streaming.windows import WindowPlan


class Guardrails(WrappedModelIdentity):
    """Input, output and tool rails around a chat model, with real streaming.

    ``Guardrails`` *is* a chat model (``isinstance(guarded, BaseChatModel)``), so it goes wherever
    one goes: LCEL chains, ``bind_tools``, ``with_structured_output``, ``create_agent``, LangGraph
    nodes and their ``messages`` stream (which shows released text only). It takes what a chat
    model takes (a string, messages, a ``PromptValue``, or a dict with
    ``input``) and returns what a chat model returns: ``AIMessage`` from ``invoke``,
    ``AIMessageChunk`` from ``stream`` / ``astream``. Output rails run per window while tokens
    flow (see :mod:`langchain_guardrails.streaming.windows`). On a block the model stream is closed
    at once and the last chunk carries the refusal, with
    ``response_metadata["guardrails"] = {"blocked": True, "stage": ..., "rail": ...}``
    (or :class:`GuardrailsViolation` is raised when ``enable_rails_exceptions`` is set).

    Example:
        .. code-block:: python

            from langchain_guardrails import Guardrails, RailsConfig
            from langchain_guardrails.testing import FakeStreamingChatModel

            config = RailsConfig.from_content(yaml_content='''
            rails:
              output:
                flows: [regex check output]
                streaming: {enabled: true, chunk_size: 4, context_size: 1}
              config:
                regex_detection: {output: {patterns: ["forbidden"]}}
            ''')
            guarded = Guardrails(llm=FakeStreamingChatModel(text="Hello there!"), config=config)
            async for chunk in guarded.astream("Hi"):
                print(chunk.content, end="")
    """

    llm: Runnable[Any, Any] | None = None
    """The guarded model: a chat model or LLM, a binding of one (``bind``, ``bind_tools``), a
    chain with one model in it (``prompt | model``), or a ``with_structured_output`` result.
    When omitted, the ``type: main`` entry of ``config.models`` is built."""
    config: RailsConfig
    """The rails configuration."""
    actions: list[Callable[..., Any]] = Field(default_factory=list)
    """Extra rail actions (``@action`` functions), on top of the config's ``actions.py``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _engine: RailEngine = PrivateAttr()
    _plan: WindowPlan | None = PrivateAttr(default=None)
    _config_llms: dict[str, Runnable[Any, Any]] | None = PrivateAttr(default=None)
    _structured: bool = PrivateAttr(default=False)
    """The answer is structured output: its tool call goes through the output rails too."""
    _include_raw: bool = PrivateAttr(default=False)
    _as_streamed: bool = PrivateAttr(default=False)
    """A blocked answer is everything streamed, not the refusal alone (an agent's state)."""

    def __init__(self, **data: Any) -> None:
        # Built here rather than in a validator so config errors (also of a config given as a
        # mapping or a path) reach the caller as ConfigError, not wrapped by pydantic.
        super().__init__(**{**data, "config": as_rails_config(data.get("config"))})
        self._use(self.llm if self.llm is not None else main_model(self.config))
        # Steps after the model parse its answer: that answer (a tool call, often) is the
        # structured output, which the output rails check too.
        self._structured = self._parts.after is not None
        main = chat_model_of(self._parts.model)
        self._engine = RailEngine(self.config, self.actions, llm=main, llms=self._models_by_type)
        if self.config.rails.input.speculative_generation:
            refuse_rewriting_input(self._engine)
        output = self.config.rails.output
        if self._engine.output_rails:
            rewrites = any(r.spec.rewrites for r in self._engine.output_rails)
            self._plan = WindowPlan.from_config(
                output.streaming, rewrites=rewrites, reasoning=output.reasoning == "check"
            )
        if self.profile is None:
            self.profile = getattr(main, "profile", None)

    def _use(self, llm: Any) -> None:
        parts = split_llm(llm)
        # A LangChain HuggingFacePipeline streams per token only through our adapter.
        model = wrap_pipeline_llm(parts.model)
        self._parts = LLMParts(model=model, before=parts.before, after=parts.after)
        self._model = with_stream_usage(model)

    def _with_llm(
        self, llm: Any, *, structured: bool = False, include_raw: bool = False
    ) -> Guardrails:
        """A guard over ``llm`` sharing this one's rails (no per-call rebuild of the engine)."""
        clone = self.model_copy(update={"llm": llm})
        clone.__dict__.pop("_serialized", None)
        clone.__dict__.pop("_model_dict", None)
        before = self._parts.before
        clone._use(llm)
        if before is not None and clone._parts.before is None:
            clone._parts = LLMParts(
                model=clone._parts.model, before=before, after=clone._parts.after
            )
        clone._structured = structured
        clone._include_raw = include_raw
        return clone

    @property
    def _pipeline(self) -> GuardPipeline:
        # Built per call from the guard's parts (a few attribute reads): nothing per call is
        # kept on the guard, and clones (bind_tools, with_structured_output) get their own.
        return GuardPipeline(self.config, self._engine, self._plan, self._model, self._structured)

    def _models_by_type(self) -> Mapping[str, Runnable[Any, Any]]:
        # Built on first use: building a provider model may need credentials the rails never use.
        if self._config_llms is None:
            from langchain_guardrails.llm import build_model

            self._config_llms = {
                m.type: build_model(m, self.config.config_path)
                for m in self.config.models
                if m.type != "main"
            }
        return self._config_llms

    # -- tools and structured output ----------------------------------------------------------

    @override
    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """A guarded model whose wrapped model has ``tools`` bound (by its own ``bind_tools``,
        so the provider's tool format is right). Tool calls it makes go through
        ``rails.tool_output`` before any part of them is released.

        Example:
            .. code-block:: python

                guarded_with_tools = guarded.bind_tools([get_weather])
                message = guarded_with_tools.invoke("Weather in Paris?")
                message.tool_calls
        """
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice

        def bind(model: Any) -> Any:
            if not hasattr(model, "bind_tools"):
                raise TypeError(f"{type(model).__name__} has no bind_tools; it cannot call tools")
            return model.bind_tools(tools, **kwargs)

        return self._with_llm(rebind(self._parts.model, bind))

    @override
    def with_structured_output(
        self,
        schema: Any,
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable whose result is parsed from an answer that passed the rails.

        The wrapped model's own ``with_structured_output`` decides the method (tool call or
        JSON text); the guard checks that answer (a structured tool call goes through the output
        rails and ``rails.tool_output``) before the parser sees it. On a block the result is the
        refusal ``AIMessage`` (with ``include_raw``: ``{"raw": refusal, "parsed": None,
        "parsing_error": None}``), or :class:`GuardrailsViolation` with exceptions on; never a
        parsed value.

        Example:
            .. code-block:: python

                class Answer(BaseModel):
                    city: str

                answer = guarded.with_structured_output(Answer).invoke("Capital of France?")
        """
        inner = chat_model_of(self._parts.model)
        if not hasattr(inner, "with_structured_output"):
            raise TypeError(f"{type(inner).__name__} has no with_structured_output")
        structured = inner.with_structured_output(schema, include_raw=False, **kwargs)
        return self._with_llm(structured, structured=True, include_raw=include_raw)

    # -- public API ----------------------------------------------------------------------------

    @override
    def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[Any, None]:
        """Stream the guarded answer as ``AIMessageChunk`` objects.

        Example:
            .. code-block:: python

                async for chunk in guarded.astream("What is the capital of France?"):
                    print(chunk.content, end="")
        """
        if self._parts.after is not None:
            return self._astream_parsed(input, config, stop, kwargs)
        # The core generator itself (one layer less per chunk than re-yielding it).
        return self._run(input, config, stop, kwargs, sync_model=False)

    @override
    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Sync twin of :meth:`astream`: chunks arrive as the model produces them.

        Example:
            .. code-block:: python

                for chunk in guarded.stream("Hi"):
                    print(chunk.content, end="")
        """
        if self._parts.after is not None:
            yield self.invoke(input, config, stop=stop, **kwargs)
            return
        yield from _bridge.iterate_sync(
            lambda: self._run(input, config, stop, kwargs, sync_model=True)
        )

    @override
    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """The whole guarded answer; on a block, the refusal alone (same metadata as streaming).

        Example:
            .. code-block:: python

                message = await guarded.ainvoke("Hi")
                message.response_metadata["guardrails"]["blocked"]
        """
        return await self._collect(input, config, stop, kwargs, sync_model=False)

    @override
    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Sync twin of :meth:`ainvoke`.

        Example:
            .. code-block:: python

                print(guarded.invoke("Hi").content)
        """
        return _bridge.run_sync(lambda: self._collect(input, config, stop, kwargs, sync_model=True))

    async def acheck(
        self,
        input: LanguageModelInput,
        *,
        output: str | None = None,
        stage: Stage | None = None,
        tool_call: Mapping[str, Any] | None = None,
        config: RunnableConfig | None = None,
    ) -> RailCheck:
        """Run only the rails of one stage, without calling the model.

        * ``stage="input"`` (the default without ``output``): the input rails check the last
          user message of ``input``;
        * ``stage="output"`` (the default with ``output="..."``): the output rails check that
          text as one window (for a model call made elsewhere);
        * ``stage="tool_output"``: ``rails.tool_output`` checks ``tool_call``
          (``{"name", "args", "id"}``) the way it checks a call the model emits;
        * ``stage="tool_input"``: ``rails.tool_input`` checks ``output`` as a tool result (the
          answer to ``tool_call``, when given).

        Example:
            .. code-block:: python

                result = await guarded.acheck("Tell me a secret", output="The secret is 42")
                result.status  # "passed", "modified" or "blocked"
        """
        return await self._pipeline.check_stage(input, output, stage, tool_call, config, sync=False)

    def check(
        self,
        input: LanguageModelInput,
        *,
        output: str | None = None,
        stage: Stage | None = None,
        tool_call: Mapping[str, Any] | None = None,
        config: RunnableConfig | None = None,
    ) -> RailCheck:
        """Sync twin of :meth:`acheck`.

        Example:
            .. code-block:: python

                guarded.check("Hello").status
        """
        return _bridge.run_sync(
            lambda: self._pipeline.check_stage(input, output, stage, tool_call, config, sync=True)
        )

    @override
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        run = async_run(run_manager)
        return _bridge.run_sync(lambda: self._result(messages, run, stop, kwargs, sync_model=True))

    @override
    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        run = run_manager or async_run(None)
        return await self._result(messages, run, stop, kwargs, sync_model=False)

    async def _result(
        self,
        messages: list[BaseMessage],
        run: AsyncCallbackManagerForLLMRun,
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        sync_model: bool,
    ) -> ChatResult:
        stream = self._pipeline.stream(messages, {}, run, stop, kwargs, sync_model=sync_model)
        chunks = [chunk async for chunk in stream]
        message = aggregate(chunks, as_streamed=self._as_streamed)
        return ChatResult(generations=[ChatGeneration(message=message)])

    # -- the core ------------------------------------------------------------------------------

    async def _collect(
        self,
        input: Any,
        config: RunnableConfig | None,
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        sync_model: bool,
    ) -> Any:
        stream = self._run(input, config, stop, kwargs, sync_model=sync_model)
        message = aggregate([c async for c in stream], as_streamed=self._as_streamed)
        if self._parts.after is None:
            return message
        return await parse_structured(
            self._parts.after, message, config, include_raw=self._include_raw, sync_model=sync_model
        )

    async def _astream_parsed(
        self,
        input: Any,
        config: RunnableConfig | None,
        stop: list[str] | None,
        kwargs: dict[str, Any],
    ) -> AsyncGenerator[Any, None]:
        # One parsed value, once the answer passed: a partial parse of unchecked JSON would
        # show what the rails have not seen yet.
        yield await self._collect(input, config, stop, kwargs, sync_model=False)

    async def _run(
        self,
        input: Any,
        config: RunnableConfig | None,
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        sync_model: bool,
    ) -> AsyncGenerator[AIMessageChunk, None]:
        """One guarded call as a chat-model run: start, released tokens, end (or error)."""
        config = ensure_config(config)
        run_id = config.pop("run_id", None)
        before = self._parts.before
        if before is not None:
            if sync_model:
                input = await run_in_executor(config, before.invoke, input, config)
            else:
                input = await before.ainvoke(input, config)
        messages = to_messages(input)
        params = self._get_invocation_params(stop=stop, **kwargs)
        options = {"stop": stop, **{key: params[key] for key in kwargs if key in params}}
        manager = AsyncCallbackManager.configure(
            config.get("callbacks"),
            self.callbacks,
            self.verbose,
            config.get("tags"),
            self.tags,
            {**(config.get("metadata") or {}), **self._get_ls_params(stop=stop, **kwargs)},
            self.metadata,
        )
        # Not inherited: the wrapped model's and the rails' runs are calls of their own.
        manager.add_metadata({GUARDED_RUN: True}, inherit=False)
        (run,) = await manager.on_chat_model_start(
            self._serialized,
            [messages],
            invocation_params=params,
            options=options,
            name=config.get("run_name"),
            run_id=run_id,
            batch_size=1,
        )
        guarded = self._pipeline.stream(messages, config, run, stop, kwargs, sync_model=sync_model)
        own_id = f"lc_run--{run.run_id}"
        # Per stream: does any handler take LLM events (tokens, the end)? Handlers that only
        # want rail runs and events (the server's) then cost nothing per token.
        takes_llm = any(not handler.ignore_llm for handler in run.handlers)
        keep: list[AIMessageChunk] | None = [] if takes_llm else None
        try:
            async for chunk in guarded:
                if keep is not None:
                    chunk_id = chunk.id
                    if chunk_id != own_id and (chunk_id is None or chunk_id.startswith("lc_run-")):
                        # One id for the whole answer, refusal included (LangGraph dedupes
                        # messages by id).
                        chunk.id = own_id
                    keep.append(chunk)
                    await run.on_llm_new_token(
                        cast("str", chunk.content), chunk=ChatGenerationChunk(message=chunk)
                    )
                yield chunk
        except BaseException as exc:
            generations = [[ChatGeneration(message=reported(keep))]] if keep else []
            await run.on_llm_error(exc, response=LLMResult(generations=generations))
            raise
        finally:
            # A consumer that stops early (a client gone) stops the model now, not at GC time.
            await guarded.aclose()
        if keep is not None:
            await run.on_llm_end(LLMResult(generations=[[ChatGeneration(message=reported(keep))]]))
