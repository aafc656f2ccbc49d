"""`Guardrails`: a chat-model-shaped runnable applying input and output rails while streaming."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from contextlib import aclosing
from functools import partial
from typing import Any, Literal, cast

from langchain_core.callbacks import AsyncCallbackManager, AsyncCallbackManagerForChainRun
from langchain_core.language_models import BaseLLM, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableSerializable,
)
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    patch_config,
)
from langchain_core.runnables.utils import ConfigurableFieldSpec
from langchain_core.tracers._streaming import _StreamingCallbackHandler
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from typing_extensions import override

from . import _bridge
from ._events import StreamEvents
from ._threads import SyncBacked, stream_in_threads
from .chunks import StreamTally, passthrough
from .config import RailsConfig
from .engine import CallScope, Decision, RailEngine
from .errors import GuardrailsViolation
from .llm.providers.hf_wrap import wrap_pipeline_llm
from .messages import last_user_text, replace_last_user_text, to_messages
from .model_stream import (
    first_step_without_hooks,
    main_model,
    model_name,
    text_chunks,
    with_stream_usage,
)
from .redaction import RelayPolicy, hooks_suppressed, relay_manager
from .results import RailCheck, aggregate, violation_metadata
from .usage import estimate_prompt_tokens
from .windows import WindowPlan, WindowStream

Stage = Literal["input", "output"]


class Guardrails(RunnableSerializable[LanguageModelInput, BaseMessage]):
    """Input and output rails around a chat model, with real streaming.

    It takes what a chat model takes (a string, messages, a ``PromptValue``, or a dict with
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
    """The guarded chat model (any runnable that streams message chunks). When omitted, the
    ``type: main`` entry of ``config.models`` is built."""
    config: RailsConfig
    """The rails configuration."""
    actions: list[Callable[..., Any]] = Field(default_factory=list)
    """Extra rail actions (``@action`` functions), on top of the config's ``actions.py``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _engine: RailEngine = PrivateAttr()
    _model: Runnable[Any, Any] = PrivateAttr()
    _plan: WindowPlan | None = PrivateAttr(default=None)
    _config_llms: dict[str, Runnable[Any, Any]] | None = PrivateAttr(default=None)

    def __init__(self, **data: Any) -> None:
        # Built here rather than in a validator so config errors reach the caller as
        # ConfigError, not wrapped in a pydantic ValidationError.
        super().__init__(**data)
        # A LangChain HuggingFacePipeline streams per token only through our adapter.
        llm = wrap_pipeline_llm(self.llm if self.llm is not None else main_model(self.config))
        self._model = with_stream_usage(llm)
        self._engine = RailEngine(self.config, self.actions, llm=llm, llms=self._models_by_type)
        if self._engine.output_rails:
            rewrites = any(r.spec.rewrites for r in self._engine.output_rails)
            self._plan = WindowPlan.from_config(
                self.config.rails.output.streaming, rewrites=rewrites
            )

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

    # -- LangChain plumbing: types and schemas come from the wrapped model -------------------

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
        return self._model.InputType

    @property
    @override
    def OutputType(self) -> Any:
        return self._model.OutputType

    @override
    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return cast("type[BaseModel]", self._model.get_input_schema(config))

    @override
    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return cast("type[BaseModel]", self._model.get_output_schema(config))

    @property
    @override
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        return self._model.config_specs

    # -- public API ----------------------------------------------------------------------------

    @override
    def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[AIMessageChunk, None]:
        """Stream the guarded answer as ``AIMessageChunk`` objects.

        Example:
            .. code-block:: python

                async for chunk in guarded.astream("What is the capital of France?"):
                    print(chunk.content, end="")
        """
        # The core generator itself (one layer less per chunk than re-yielding it).
        return self._run(input, config, kwargs, sync_model=False)

    @override
    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """Sync twin of :meth:`astream`: chunks arrive as the model produces them.

        Example:
            .. code-block:: python

                for chunk in guarded.stream("Hi"):
                    print(chunk.content, end="")
        """
        yield from _bridge.iterate_sync(lambda: self._run(input, config, kwargs, sync_model=True))

    @override
    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """The whole guarded answer; on a block, the refusal alone (same metadata as streaming).

        Example:
            .. code-block:: python

                message = await guarded.ainvoke("Hi")
                message.response_metadata["guardrails"]["blocked"]
        """
        return await self._collect(input, config, kwargs, sync_model=False)

    @override
    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Sync twin of :meth:`ainvoke`.

        Example:
            .. code-block:: python

                print(guarded.invoke("Hi").content)
        """
        return _bridge.run_sync(lambda: self._collect(input, config, kwargs, sync_model=True))

    async def acheck(
        self,
        input: LanguageModelInput,
        *,
        output: str | None = None,
        config: RunnableConfig | None = None,
    ) -> RailCheck:
        """Run only the rails, without calling the model.

        With ``output=None`` the input rails check the last user message of ``input``; with
        ``output="..."`` the output rails check that text as one window (for a model call made
        elsewhere).

        Example:
            .. code-block:: python

                result = await guarded.acheck("Tell me a secret", output="The secret is 42")
                result.status  # "passed", "modified" or "blocked"
        """
        return await self._check(input, output, config, sync=False)

    def check(
        self,
        input: LanguageModelInput,
        *,
        output: str | None = None,
        config: RunnableConfig | None = None,
    ) -> RailCheck:
        """Sync twin of :meth:`acheck`.

        Example:
            .. code-block:: python

                guarded.check("Hello").status
        """
        return _bridge.run_sync(lambda: self._check(input, output, config, sync=True))

    async def _check(
        self, input: Any, output: str | None, config: RunnableConfig | None, *, sync: bool
    ) -> RailCheck:
        messages = to_messages(input)
        manager = get_async_callback_manager_for_config(ensure_config(config))
        stage: Stage = "input" if output is None else "output"
        rails = self._engine.input_rails if output is None else self._engine.output_rails
        text = last_user_text(messages) if output is None else output
        scope = CallScope(
            messages=messages,
            user_message=last_user_text(messages),
            callbacks=_tagged(manager, stage) if manager.handlers else None,
            bind_llm=_binder(sync),
        )
        decision = await self._engine.check(rails, text, stage, scope)
        if not decision.allowed:
            refusal = self.config.rails.refusal
            return RailCheck(
                status="blocked",
                content=decision.refusal or getattr(refusal, stage) or refusal.message,
                rail=decision.rail,
                reason=decision.reason,
                metadata=violation_metadata(decision, stage),
            )
        if decision.text is not None:
            return RailCheck(status="modified", content=decision.text)
        return RailCheck(status="passed", content=text)

    # -- the core ------------------------------------------------------------------------------

    async def _collect(
        self, input: Any, config: RunnableConfig | None, kwargs: dict[str, Any], *, sync_model: bool
    ) -> AIMessage:
        chunks = [c async for c in self._run(input, config, kwargs, sync_model=sync_model)]
        return aggregate(chunks)

    async def _run(
        self,
        input: Any,
        config: RunnableConfig | None,
        kwargs: dict[str, Any],
        *,
        sync_model: bool,
    ) -> AsyncGenerator[AIMessageChunk, None]:
        """One guarded call: callbacks, input rails, model stream, windows, final chunk."""
        config = ensure_config(config)
        manager = get_async_callback_manager_for_config(config)
        run = await manager.on_chain_start(
            None,
            input if isinstance(input, dict) else {"input": input},
            run_id=config.pop("run_id", None),
            name=config.get("run_name") or self.get_name(),
        )
        guarded = self._guarded(input, config, run, kwargs, sync_model=sync_model)
        chunks: AsyncIterator[AIMessageChunk] = guarded
        stream_handler = next(
            (h for h in run.handlers if isinstance(h, _StreamingCallbackHandler)), None
        )
        if stream_handler is not None:
            # astream_events / astream_log: emit our (released) chunks as stream events.
            chunks = stream_handler.tap_output_aiter(run.run_id, guarded)
        keep: list[AIMessageChunk] | None = [] if run.handlers else None
        try:
            async for chunk in chunks:
                if keep is not None:
                    keep.append(chunk)
                yield chunk
        except BaseException as exc:
            await run.on_chain_error(exc)
            raise
        finally:
            # A consumer that stops early (a client gone) stops the model now, not at GC time.
            await guarded.aclose()
        await run.on_chain_end(aggregate(keep) if keep else None)

    async def _guarded(
        self,
        input: Any,
        config: RunnableConfig,
        run: AsyncCallbackManagerForChainRun,
        kwargs: dict[str, Any],
        *,
        sync_model: bool,
    ) -> AsyncGenerator[AIMessageChunk, None]:
        engine, plan = self._engine, self._plan
        messages = to_messages(input)
        child = run.get_child()
        listening = bool(child.handlers)
        streaming = self.config.rails.output.streaming
        redact = plan is not None and not plan.stream_first and not streaming.audit_unreleased_text
        tally = StreamTally(model_name(self._model))

        if engine.input_rails:
            scope = CallScope(
                messages=messages,
                user_message=last_user_text(messages),
                callbacks=_tagged(child, "input") if listening else None,
                bind_llm=_binder(sync_model),
                run_id=run.run_id,
            )
            decision = await engine.check(engine.input_rails, scope.user_message, "input", scope)
            if not decision.allowed:
                yield self._refusal(decision, "input", tally)
                return
            if decision.text is not None:
                messages = replace_last_user_text(messages, decision.text)
        tally.estimate_input_tokens = partial(estimate_prompt_tokens, self._model, messages)

        model_callbacks: AsyncCallbackManager = child
        if listening:
            model_callbacks = relay_manager(child, RelayPolicy(redact_outputs=redact, stop=tally))
        model_config = patch_config(config, callbacks=model_callbacks, run_name=None)
        model_config.pop("run_id", None)
        if sync_model:
            source = stream_in_threads(self._model, messages, model_config, kwargs)
        else:
            source = self._model.astream(messages, model_config, **kwargs)
        if listening:
            source = first_step_without_hooks(source)
        if isinstance(self._model, BaseLLM):
            source = text_chunks(source)

        if plan is None:
            released = passthrough(source, tally)
        else:
            rail_callbacks = _tagged(child, "output") if listening else None
            if rail_callbacks is not None and redact:
                policy = RelayPolicy(
                    redact_inputs=True, redact_outputs=True, guard_run_id=run.run_id
                )
                rail_callbacks = relay_manager(rail_callbacks, policy)
            scope = CallScope(
                messages=messages,
                user_message=last_user_text(messages),
                callbacks=rail_callbacks,
                bind_llm=_binder(sync_model),
                run_id=run.run_id,
            )
            observer = StreamEvents(child, run.run_id, plan) if listening else None
            schedule = _scheduler(engine, scope, redact)
            released = WindowStream(plan, schedule, tally, observer).run(source)

        async with aclosing(released) as stream:
            async for chunk in stream:
                yield chunk
        if tally.blocked is not None:
            yield self._refusal(tally.blocked, "output", tally)
            return
        yield AIMessageChunk(
            content=[] if tally.list_content else "",
            usage_metadata=tally.usage,
            response_metadata={"guardrails": {"blocked": False, "windows": tally.windows}},
            chunk_position="last",
        )

    def _refusal(self, decision: Decision, stage: Stage, tally: StreamTally) -> AIMessageChunk:
        refusal = self.config.rails.refusal
        text = decision.refusal or getattr(refusal, stage) or refusal.message
        metadata = violation_metadata(decision, stage)
        if self.config.enable_rails_exceptions:
            raise GuardrailsViolation(
                f"Blocked by {stage} rail {decision.rail!r}"
                + (f": {decision.reason}" if decision.reason else ""),
                metadata=metadata,
                usage_metadata=tally.usage,
            )
        return AIMessageChunk(
            content=text,
            usage_metadata=tally.usage,
            response_metadata={"guardrails": metadata},
            chunk_position="last",
        )


def _tagged(manager: AsyncCallbackManager, stage: Stage) -> AsyncCallbackManager:
    tagged = manager.copy()
    tagged.add_tags(["guardrails:rail", f"guardrails:{stage}"])
    return tagged


def _bind(llm: Runnable[Any, Any], config: RunnableConfig) -> Runnable[Any, Any]:
    return llm.with_config(config)


def _bind_threaded(llm: Runnable[Any, Any], config: RunnableConfig) -> Runnable[Any, Any]:
    return SyncBacked(llm.with_config(config))


def _binder(sync: bool) -> Callable[[Runnable[Any, Any], RunnableConfig], Runnable[Any, Any]]:
    """How rails get their models: through the sync API in threads on sync calls."""
    return _bind_threaded if sync else _bind


def _scheduler(
    engine: RailEngine, scope: CallScope, redact: bool
) -> Callable[[str, int], asyncio.Future[Decision]]:
    """Start each window's check as a task; redacted calls run where LangChain adds no raw
    handlers of its own to the rails' child runs."""
    context: contextvars.Context | None = None
    if redact and scope.callbacks is not None:
        with hooks_suppressed():
            context = contextvars.copy_context()
    rails = engine.output_rails

    def schedule(text: str, index: int) -> asyncio.Future[Decision]:
        return asyncio.get_running_loop().create_task(
            engine.check(rails, text, "output", scope, index), context=context
        )

    return schedule
