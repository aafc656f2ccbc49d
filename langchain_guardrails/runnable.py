"""`Guardrails`: a chat model that applies input, output and tool rails while it streams."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing
from functools import cached_property, partial
from typing import Any, cast
from uuid import uuid4

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, BaseLLM, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, LLMResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    patch_config,
    run_in_executor,
)
from langchain_core.runnables.utils import ConfigurableFieldSpec
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from typing_extensions import override

from . import _bridge
from ._events import StreamEvents
from ._threads import SyncBacked, stream_in_threads
from .canonical import check_json_text
from .chunks import StreamTally, passthrough
from .config import RailsConfig, as_rails_config
from .direct_stream import direct_astream
from .engine import CallScope, Decision, RailEngine, Stage
from .instructions import apply_instructions
from .llm.providers.hf_wrap import wrap_pipeline_llm
from .llm_parts import LLMParts, chat_model_of, rebind, split_llm
from .messages import (
    last_user_text,
    replace_content,
    replace_last_user_text,
    to_messages,
    tool_results,
)
from .model_stream import (
    first_step_without_hooks,
    main_model,
    model_name,
    text_chunks,
    with_stream_usage,
)
from .reasoning import strip_reasoning
from .redaction import RelayPolicy, hooks_suppressed, relay_manager
from .results import RailCheck, aggregate, refusal_chunks, refusal_text, violation_metadata
from .speculative import (
    InputBlocked,
    InputOutcome,
    UnitCount,
    after_input,
    counted,
    refuse_rewriting_input,
)
from .tool_calls import CheckCall, ToolCallBlocked, call_text, gate_tool_calls
from .usage import estimate_prompt_tokens
from .windows import WindowPlan, WindowStream

GUARDED_RUN = "guardrails_guarded_run"
"""Metadata of the guarded run itself (not inherited): handlers that count model calls skip
it, since the wrapped model's run is the call."""

NOSTREAM = "nostream"
"""LangGraph's tag (``TAG_NOSTREAM``) for runs whose tokens are not answer tokens (the wrapped
model's and the rails' own calls): the guarded run streams what is released, once."""


class Guardrails(BaseChatModel):
    """Input, output and tool rails around a chat model, with real streaming.

    ``Guardrails`` *is* a chat model (``isinstance(guarded, BaseChatModel)``), so it goes wherever
    one goes: LCEL chains, ``bind_tools``, ``with_structured_output``, ``create_agent``, LangGraph
    nodes and their ``messages`` stream (which shows released text only). It takes what a chat
    model takes (a string, messages, a ``PromptValue``, or a dict with
    ``input``) and returns what a chat model returns: ``AIMessage`` from ``invoke``,
    ``AIMessageChunk`` from ``stream`` / ``astream``. Output rails run per window while tokens
    flow (see :mod:`langchain_guardrails.windows`). On a block the model stream is closed at
    once and the last chunk carries the refusal, with
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
    _parts: LLMParts = PrivateAttr()
    _model: Runnable[Any, Any] = PrivateAttr()
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

    def _models_by_type(self) -> Mapping[str, Runnable[Any, Any]]:
        # Built on first use: building a provider model may need credentials the rails never use.
        if self._config_llms is None:
            from .llm import build_model

            self._config_llms = {
                m.type: build_model(m, self.config.config_path)
                for m in self.config.models
                if m.type != "main"
            }
        return self._config_llms

    # -- LangChain plumbing: a chat model whose types and identity come from the wrapped one ----

    @property
    @override
    def _llm_type(self) -> str:
        return "guardrails"

    @property
    def model_name(self) -> str | None:
        """The wrapped model's name (what agents and tracers read)."""
        return model_name(chat_model_of(self._parts.model))

    @property
    @override
    def _identifying_params(self) -> dict[str, Any]:
        inner = chat_model_of(self._parts.model)
        params = getattr(inner, "_identifying_params", None)
        return dict(params) if isinstance(params, Mapping) else {}

    @override
    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        inner = chat_model_of(self._parts.model)
        if isinstance(inner, BaseChatModel):
            return inner._get_ls_params(stop=stop, **kwargs)
        return super()._get_ls_params(stop=stop, **kwargs)

    @cached_property
    def _model_dict(self) -> dict[str, Any]:
        return self._dict_for_compat()

    @override
    def _get_invocation_params(
        self, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        # As BaseChatModel's, with the model's own part built once per guard rather than per
        # call (it goes through LangChain's deprecation wrapper of ``dict()``).
        return {**self._model_dict, "stop": stop, **kwargs}

    @cached_property
    def _serialized(self) -> dict[str, Any]:
        # What callbacks and tracers get as ``serialized``: the class and the wrapped model's
        # name, not the config (its model parameters may hold credentials).
        inner = chat_model_of(self._parts.model)
        return {
            "lc": 1,
            "type": "not_implemented",
            "id": ["langchain_guardrails", "Guardrails"],
            "repr": f"Guardrails(llm={type(inner).__name__})",
            "name": self.get_name(),
        }

    @classmethod
    @override
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    @override
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_guardrails"]

    @property
    @override
    def InputType(self) -> Any:
        before = self._parts.before
        return before.InputType if before is not None else self._model.InputType

    @property
    @override
    def OutputType(self) -> Any:
        after = self._parts.after
        return after.OutputType if after is not None else self._model.OutputType

    @override
    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        before = self._parts.before
        runnable = before if before is not None else self._model
        return cast("type[BaseModel]", runnable.get_input_schema(config))

    @override
    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        after = self._parts.after
        runnable = after if after is not None else self._model
        return cast("type[BaseModel]", runnable.get_output_schema(config))

    @property
    @override
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        return self._model.config_specs

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
        return await self._check(input, output, stage, tool_call, config, sync=False)

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
            lambda: self._check(input, output, stage, tool_call, config, sync=True)
        )

    async def _check(
        self,
        input: Any,
        output: str | None,
        stage: Stage | None,
        tool_call: Mapping[str, Any] | None,
        config: RunnableConfig | None,
        *,
        sync: bool,
    ) -> RailCheck:
        messages = to_messages(input)
        manager = get_async_callback_manager_for_config(ensure_config(config))
        stage = stage or ("input" if output is None else "output")
        engine = self._engine
        rails = {
            "input": engine.input_rails,
            "output": engine.output_rails,
            "tool_input": engine.tool_input_rails,
            "tool_output": engine.tool_output_rails,
        }[stage]
        if stage == "input":
            text = last_user_text(messages)
        elif stage == "tool_output":
            if tool_call is None:
                raise ValueError("acheck(stage='tool_output') needs tool_call={name, args, id}")
            text = call_text(tool_call.get("name"), tool_call.get("args"))
        else:
            if output is None:
                raise ValueError(f"acheck(stage={stage!r}) needs output='...' (the text)")
            text = check_json_text(output) if stage == "tool_input" else output
        scope = CallScope(
            messages=messages,
            user_message=last_user_text(messages),
            callbacks=_rail_callbacks(manager, stage) if manager.handlers else None,
            bind_llm=_binder(sync),
        )
        with hooks_suppressed():
            decision = await engine.check(rails, text, stage, scope, tool_call=tool_call)
        if not decision.allowed:
            return RailCheck(
                status="blocked",
                content=refusal_text(self.config, decision, stage),
                rail=decision.rail,
                reason=decision.reason,
                metadata=violation_metadata(decision, stage),
            )
        if decision.text is not None:
            return RailCheck(status="modified", content=decision.text)
        return RailCheck(status="passed", content=text)

    # -- BaseChatModel's own paths (``generate`` / ``agenerate``) -------------------------------

    @override
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        run = _async_run(run_manager)
        return _bridge.run_sync(lambda: self._result(messages, run, stop, kwargs, sync_model=True))

    @override
    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        run = run_manager or _async_run(None)
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
        stream = self._guarded(messages, {}, run, stop, kwargs, sync_model=sync_model)
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
        return await self._parse(message, config, sync_model=sync_model)

    async def _parse(
        self, message: AIMessage, config: RunnableConfig | None, *, sync_model: bool
    ) -> Any:
        """Structured output: the parser runs on a passed answer only, never on a refusal."""
        after = self._parts.after
        assert after is not None
        if message.response_metadata.get("guardrails", {}).get("blocked"):
            if self._include_raw:
                return {"raw": message, "parsed": None, "parsing_error": None}
            return message
        config = patch_config(config, run_name=None) if config else None
        if not self._include_raw:
            if sync_model:
                return await run_in_executor(config, after.invoke, message, config)
            return await after.ainvoke(message, config)
        try:
            if sync_model:
                parsed = await run_in_executor(config, after.invoke, message, config)
            else:
                parsed = await after.ainvoke(message, config)
        except Exception as exc:
            return {"raw": message, "parsed": None, "parsing_error": exc}
        return {"raw": message, "parsed": parsed, "parsing_error": None}

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
        guarded = self._guarded(messages, config, run, stop, kwargs, sync_model=sync_model)
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
            reported = [[ChatGeneration(message=_reported(keep))]] if keep else []
            await run.on_llm_error(exc, response=LLMResult(generations=reported))
            raise
        finally:
            # A consumer that stops early (a client gone) stops the model now, not at GC time.
            await guarded.aclose()
        if keep is not None:
            await run.on_llm_end(LLMResult(generations=[[ChatGeneration(message=_reported(keep))]]))

    async def _guarded(
        self,
        messages: list[BaseMessage],
        config: RunnableConfig,
        run: AsyncCallbackManagerForLLMRun,
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        sync_model: bool,
    ) -> AsyncGenerator[AIMessageChunk, None]:
        engine, plan = self._engine, self._plan
        child = _child_of(run)
        listening = bool(child.handlers)
        output = self.config.rails.output
        checks_input = bool(engine.input_rails or engine.tool_input_rails)
        # Speculative: the model runs before the input passed, so its run is redacted (as in
        # hold-back mode) whatever the output mode.
        speculative = checks_input and self.config.rails.input.speculative_generation
        redact = speculative or (
            plan is not None
            and not plan.stream_first
            and not output.streaming.audit_unreleased_text
        )
        tally = StreamTally(model_name(self._model))

        input_check: asyncio.Future[InputOutcome] | None = None
        if speculative:
            input_check = asyncio.ensure_future(
                self._input_outcome(messages, child if listening else None, run, sync_model)
            )
        elif checks_input:
            blocked, messages = await self._check_input(
                messages, child if listening else None, run, sync_model
            )
            if blocked is not None:
                yield self._refusal(blocked[0], blocked[1], tally)[0]  # nothing released yet
                return
        if self.config.instructions:
            messages = apply_instructions(self.config, messages)
        tally.estimate_input_tokens = partial(estimate_prompt_tokens, self._model, messages)

        gate_calls = bool(engine.tool_output_rails) or (
            self._structured and bool(engine.output_rails)
        )
        model_callbacks: AsyncCallbackManager = child
        if listening:
            policy = RelayPolicy(
                redact_outputs=redact,
                drop_tokens=speculative or not output.streaming.audit_unreleased_text,
                hide_tool_calls=gate_calls,
                strip_reasoning=output.reasoning == "strip",
                stop=tally,
            )
            model_callbacks = relay_manager(child, policy)
        model_config = patch_config(config, callbacks=model_callbacks, run_name=None)
        model_config.pop("run_id", None)
        model_config["tags"] = [*model_config.get("tags", ()), NOSTREAM]
        if stop is not None:
            kwargs = {**kwargs, "stop": stop}
        direct = None
        if not sync_model and not (listening and output.streaming.audit_unreleased_text):
            # Nobody listens: skip astream's run bookkeeping (it keeps every chunk). Someone
            # listens: report the model's run ourselves, without a dispatch per token.
            relays = model_callbacks if listening else None
            direct = direct_astream(
                self._model, messages, kwargs, relays, [NOSTREAM], f"lc_run--{run.run_id}"
            )
        if direct is not None:
            source = direct
        elif sync_model:
            source = stream_in_threads(self._model, messages, model_config, kwargs)
        else:
            source = self._model.astream(messages, model_config, **kwargs)
        # Always: even with no handler of ours, the caller's context config may hold some.
        source = first_step_without_hooks(source)
        if isinstance(self._model, BaseLLM):
            source = text_chunks(source)
        if output.reasoning == "strip":
            source = strip_reasoning(source)
        count = UnitCount()
        if input_check is not None:
            source = counted(source, count)
        scope = CallScope(
            messages=messages,
            user_message=last_user_text(messages),
            callbacks=None,
            bind_llm=_binder(sync_model),
            run_id=run.run_id,
        )
        if gate_calls:
            # A tool call is unreleased until it passed, in both modes: rail inputs redacted.
            tool_scope = replace_scope(
                scope,
                _rail_callbacks(child, "tool_output", True, run.run_id) if listening else None,
            )
            source = gate_tool_calls(source, self._tool_call_check(tool_scope))

        observer: StreamEvents | None = None
        if plan is None:
            released = passthrough(source, tally)
        else:
            rail_scope = replace_scope(
                scope, _rail_callbacks(child, "output", redact, run.run_id) if listening else None
            )
            observer = StreamEvents(child, run.run_id, plan) if listening else None
            if observer is not None and input_check is not None:
                observer.hold()
            schedule = _scheduler(engine, rail_scope)
            released = WindowStream(plan, schedule, tally, observer).run(source)
        if input_check is not None:
            released = after_input(released, input_check, tally, count, observer)

        text_out = False  # has answer text reached the caller (a refusal then follows it)?
        block: tuple[Decision, Stage] | None
        try:
            async with aclosing(released) as stream:
                async for chunk in stream:
                    if not text_out and chunk.content:
                        text_out = bool(chunk.text)
                    yield chunk
        except ToolCallBlocked as blocked_call:
            block = (blocked_call.decision, cast("Stage", blocked_call.stage))
        except InputBlocked as blocked_input:
            block = (blocked_input.decision, blocked_input.stage)
        else:
            block = None if tally.blocked is None else (tally.blocked, "output")
        if block is not None:
            for chunk in self._refusal(*block, tally, after_text=text_out):
                yield chunk
            return
        yield AIMessageChunk(
            content=[] if tally.list_content else "",
            usage_metadata=tally.usage,
            response_metadata={"guardrails": {"blocked": False, "windows": tally.windows}},
            chunk_position="last",
        )

    def _tool_call_check(self, scope: CallScope) -> CheckCall:
        engine = self._engine
        rails = engine.tool_output_rails
        structured = engine.output_rails if self._structured else ()

        async def check(text: str, call: Mapping[str, Any]) -> tuple[Decision, Stage]:
            with hooks_suppressed():
                decision = await engine.check(rails, text, "tool_output", scope, tool_call=call)
                if decision.allowed and structured:
                    # A structured answer is the answer: the output rails check it too.
                    decision = await engine.check(structured, text, "output", scope, tool_call=call)
                    return decision, "output"
            return decision, "tool_output"

        return check

    async def _input_outcome(
        self,
        messages: list[BaseMessage],
        child: AsyncCallbackManager | None,
        run: AsyncCallbackManagerForLLMRun,
        sync_model: bool,
    ) -> InputOutcome:
        """The input check of a speculative call (its rails cannot rewrite: see
        :func:`~langchain_guardrails.speculative.refuse_rewriting_input`)."""
        blocked, _ = await self._check_input(messages, child, run, sync_model)
        return blocked

    async def _check_input(
        self,
        messages: list[BaseMessage],
        child: AsyncCallbackManager | None,
        run: AsyncCallbackManagerForLLMRun,
        sync_model: bool,
    ) -> tuple[tuple[Decision, Stage] | None, list[BaseMessage]]:
        """Input rails on the last user message and ``rails.tool_input`` on every tool result,
        all concurrently; the first block (in message order) wins, rewrites are applied."""
        engine = self._engine
        scope = CallScope(
            messages=messages,
            user_message=last_user_text(messages),
            callbacks=None,
            bind_llm=_binder(sync_model),
            run_id=run.run_id,
        )
        jobs: list[tuple[Stage, int | None, Any]] = []
        if engine.input_rails:
            input_scope = replace_scope(scope, _rail_callbacks(child, "input") if child else None)
            jobs.append(
                (
                    "input",
                    None,
                    engine.check(engine.input_rails, scope.user_message, "input", input_scope),
                )
            )
        if engine.tool_input_rails:
            tool_scope = replace_scope(
                scope, _rail_callbacks(child, "tool_input") if child else None
            )
            for index, message, call in tool_results(messages):
                answered = call or {"name": getattr(message, "name", None), "args": None,
                                    "id": getattr(message, "tool_call_id", None)}  # fmt: skip
                check = engine.check(
                    engine.tool_input_rails,
                    check_json_text(message.text),  # a JSON result as the model will read it
                    "tool_input",
                    tool_scope,
                    tool_call=answered,
                )
                jobs.append(("tool_input", index, check))
        # Our relays stand in for context-registered handlers: LangChain must not add the raw
        # ones to the rails' runs again (usage would count twice).
        with hooks_suppressed():
            decisions = await asyncio.gather(*(job for _, _, job in jobs))
        for (stage, _, _), decision in zip(jobs, decisions, strict=True):
            if not decision.allowed:
                return (decision, stage), messages
        for (_, at, _), decision in zip(jobs, decisions, strict=True):
            if decision.text is None:
                continue
            if at is None:
                messages = replace_last_user_text(messages, decision.text)
            else:
                messages = replace_content(messages, at, decision.text)
        return None, messages

    def _refusal(
        self, decision: Decision, stage: Stage, tally: StreamTally, after_text: bool = False
    ) -> list[AIMessageChunk]:
        return refusal_chunks(self.config, decision, stage, tally.usage, after_text=after_text)


def _reported(chunks: list[AIMessageChunk]) -> AIMessage:
    """The guarded run's result for callbacks: the released answer without usage (the wrapped
    model's run reports it; usage handlers would count it twice)."""
    return aggregate(chunks).model_copy(update={"usage_metadata": None})


def _child_of(run: AsyncCallbackManagerForLLMRun) -> AsyncCallbackManager:
    """The manager of the guarded run's children (the model and the rails); an LLM run has no
    ``get_child``, as LangChain's LLM runs are leaves."""
    manager = AsyncCallbackManager(handlers=[], parent_run_id=run.run_id)
    manager.set_handlers(run.inheritable_handlers)
    manager.add_tags(run.inheritable_tags)
    manager.add_metadata(run.inheritable_metadata)
    return manager


def _async_run(
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


def _rail_callbacks(
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


def _binder(sync: bool) -> Callable[[Runnable[Any, Any], RunnableConfig], Runnable[Any, Any]]:
    """How rails get their models: through the sync API in threads on sync calls."""
    return _bind_threaded if sync else _bind


def _scheduler(
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
