"""``LLMRails``: NeMo Guardrails' API (``generate``, ``stream_async``, ``explain``) over the same
engine and windows as :class:`~langchain_guardrails.Guardrails`.

Every call runs a ``Guardrails`` stream with a per-call
:class:`~langchain_guardrails.observability.callback_handler.GuardrailsCallbackHandler` attached,
which is where ``explain()`` and ``options={"log": ...}`` get their LLM calls and activated rails.
The object keeps no per-call state: ``explain()`` reads a context variable set by each call, so it
shows the **last call started in the current context** (the current asyncio task, or the current
thread for sync calls). Calls made in other tasks, including child tasks such as those
``asyncio.gather`` creates, are not visible there; ask their ``options={"log": ...}`` instead.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable
from langchain_core.runnables.config import ensure_config, merge_configs

from langchain_guardrails.config.actions import ActionSpec, spec_of
from langchain_guardrails.config.rails_config import ConfigLike, RailsConfig, as_rails_config
from langchain_guardrails.errors import ConfigError, GuardrailsViolation
from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.llm import sync_bridge as _bridge
from langchain_guardrails.llm.messages import to_messages
from langchain_guardrails.nemo.external_tokens import ExternalTokens, close
from langchain_guardrails.observability.callback_handler import (
    GuardrailsCallbackHandler,
    GuardrailsSummary,
)
from langchain_guardrails.observability.explain import (
    ExplainInfo,
    GenerationLog,
    GenerationOptions,
    GenerationResponse,
    LogOptions,
    llm_calls_summary,
    parse_options,
)
from langchain_guardrails.streaming.handler import StreamingHandler


@dataclass(frozen=True, slots=True)
class _Blocked:
    """The end of a blocked call."""

    rail: str
    stage: str
    refusal: str
    exception: bool
    """The config asked for exceptions (``enable_rails_exceptions``)."""

    def error_json(self) -> str:
        """NeMo's error object, as the JSON text ``stream_async`` yields."""
        error = {
            "message": f"Blocked by {self.rail} rails.",
            "type": "guardrails_violation",
            "param": self.rail,
            "code": "content_blocked",
        }
        return json.dumps({"error": error})

    def message(self) -> dict[str, Any]:
        """The assistant message (or NeMo's exception message) of a blocked call."""
        if not self.exception:
            return {"role": "assistant", "content": self.refusal}
        kind = "InputRailException" if self.stage == "input" else "OutputRailException"
        what = "Input" if self.stage == "input" else "Output"
        text = f"{what} not allowed. The {self.stage} was blocked by the '{self.rail}' flow."
        return {"role": "exception", "content": {"type": kind, "message": text}}


@dataclass(slots=True)
class _Call:
    """One call's records (never stored on the ``LLMRails`` object)."""

    info: ExplainInfo
    collector: GuardrailsCallbackHandler = dataclasses.field(
        default_factory=GuardrailsCallbackHandler
    )
    started: float = dataclasses.field(default_factory=time.perf_counter)
    summary: GuardrailsSummary | None = None


class LLMRails:
    """Guardrails with NeMo Guardrails' API, for code written against ``nemoguardrails``.

    Args:
        config: the rails configuration: a :class:`RailsConfig`, a mapping (the content of
            ``config.yml``) or the path of a config folder or YAML file.
        llm: the main model; when None, the ``models`` entry with ``type: main`` is built
            (engines ``openai``, ``huggingface_pipeline``, ``scripted`` and any added with
            :func:`langchain_guardrails.llm.register_engine`).
        verbose: print a summary of the LLM calls after each call.

    Example:
        .. code-block:: python

            from langchain_guardrails import LLMRails, RailsConfig

            rails = LLMRails(RailsConfig.from_path("./config"))
            reply = rails.generate(messages=[{"role": "user", "content": "Hello!"}])
            async for chunk in rails.stream_async(messages=[{"role": "user", "content": "Hi"}]):
                print(chunk, end="")
            rails.explain().print_llm_calls_summary()
    """

    def __init__(
        self, config: ConfigLike, llm: Runnable[Any, Any] | None = None, verbose: bool = False
    ) -> None:
        self.config = as_rails_config(config)
        self.llm = llm if llm is not None else _configured_model(self.config)
        self.verbose = verbose
        self._actions: tuple[_Registered, ...] = ()
        self._built: dict[bool, Guardrails] = {}
        self._lock = threading.Lock()
        self._last: ContextVar[ExplainInfo | None] = ContextVar(
            f"langchain_guardrails_explain_{id(self)}", default=None
        )

    # -- setup ---------------------------------------------------------------------------------

    def register_action(self, action: Callable[..., Any], name: str | None = None) -> None:
        """Make ``action`` usable as a flow name (``name``, or the ``@action`` name, or the
        function name with spaces for ``_``). Flows are resolved at the next call, so an
        unknown flow name in the config is reported then, with the known names.

        Example:
            .. code-block:: python

                rails.register_action(check_blocked_terms, name="check blocked terms")
        """
        spec = spec_of(action)
        if name is not None:
            spec = dataclasses.replace(spec, name=name)
        with self._lock:
            self._actions = (*self._actions, _Registered(spec))
            self._built = {}

    def update_llm(self, llm: Runnable[Any, Any]) -> None:
        """Use ``llm`` as the main model from the next call on.

        Example:
            .. code-block:: python

                rails.update_llm(ChatOpenAI(model="gpt-4o-mini"))
        """
        with self._lock:
            self.llm = llm
            self._built = {}

    def _guardrails(self, external: bool) -> Guardrails:
        """The ``Guardrails`` runnable (built at the first call after a change)."""
        with self._lock:
            guarded = self._built.get(external)
            if guarded is None:
                if self.llm is None and not external:
                    raise ConfigError(
                        "LLMRails needs a model: pass llm=..., add a `models` entry with "
                        "`type: main`, or stream from your own tokens with "
                        "stream_async(generator=...)"
                    )
                llm = ExternalTokens(self.llm) if external else self.llm
                guarded = Guardrails(llm=llm, config=self.config, actions=list(self._actions))
                self._built = {**self._built, external: guarded}
            return guarded

    # -- calls ---------------------------------------------------------------------------------

    def generate(
        self,
        prompt: str | None = None,
        messages: Sequence[dict[str, Any] | BaseMessage] | None = None,
        options: dict[str, Any] | GenerationOptions | None = None,
    ) -> str | dict[str, Any] | GenerationResponse:
        """Sync twin of :meth:`generate_async` (runs on a background event loop).

        Example:
            .. code-block:: python

                rails.generate(messages=[{"role": "user", "content": "Hello!"}])
                # {"role": "assistant", "content": "Hi there!"}
        """
        history, opts = _history(prompt, messages), parse_options(options)
        call = self._start_call()
        return _bridge.run_sync(
            lambda: self._generate(history, opts, call, None, prompt is not None, options)
        )

    async def generate_async(
        self,
        prompt: str | None = None,
        messages: Sequence[dict[str, Any] | BaseMessage] | None = None,
        options: dict[str, Any] | GenerationOptions | None = None,
        streaming_handler: StreamingHandler | None = None,
    ) -> str | dict[str, Any] | GenerationResponse:
        """The guarded answer: a string for ``prompt=``, an assistant message dict for
        ``messages=``, a :class:`GenerationResponse` when ``options`` are given.

        With ``streaming_handler``, the released chunks are pushed into it as they come (on a
        block, the NeMo error object is its last chunk) and it is ended when the call ends,
        however it ends.

        Example:
            .. code-block:: python

                response = await rails.generate_async(
                    messages=history, options={"log": {"llm_calls": True, "activated_rails": True}}
                )
                response.log.llm_calls[0].total_tokens
        """
        history, opts = _history(prompt, messages), parse_options(options)
        if streaming_handler is not None:
            self._warn_streaming("generate_async(streaming_handler=...)")
        call = self._start_call()
        return await self._generate(
            history, opts, call, streaming_handler, prompt is not None, options
        )

    async def stream_async(
        self,
        prompt: str | None = None,
        messages: Sequence[dict[str, Any] | BaseMessage] | None = None,
        options: dict[str, Any] | GenerationOptions | None = None,
        generator: AsyncIterator[str] | None = None,
    ) -> AsyncIterator[str]:
        """Stream the guarded answer as ``str`` chunks.

        With ``generator``, its tokens are the answer (the main model is not called): input
        rails still check ``messages``, and output rails check the tokens per window
        (streaming output rails) or as a whole before anything is released. The generator
        is closed when the stream ends, at once on a block. Of ``options``, ``llm_params``
        apply; for the log of a streamed call use :meth:`explain`.

        On a block the last chunk is NeMo's error object as JSON text:
        ``{"error": {"message": "Blocked by <rail> rails.", "type": "guardrails_violation",
        "param": "<rail>", "code": "content_blocked"}}``.

        Example:
            .. code-block:: python

                async for chunk in rails.stream_async(messages=history):
                    print(chunk, end="")
        """
        if generator is not None and not hasattr(generator, "__anext__"):
            raise TypeError(
                f"stream_async(generator=...) takes an async iterator of str; got "
                f"{type(generator).__name__}"
            )
        try:
            history, opts = _history(prompt, messages), parse_options(options)
            self._warn_streaming("stream_async")
            call = self._start_call()
            async with aclosing(self._pieces(history, opts, call, generator)) as pieces:
                async for piece in pieces:
                    yield piece.error_json() if isinstance(piece, _Blocked) else piece
        finally:
            if generator is not None:
                await close(generator)

    def explain(self) -> ExplainInfo:
        """The LLM calls and activated rails of the last call started in the current context
        (task or thread); empty before the first one.

        Example:
            .. code-block:: python

                await rails.generate_async(messages=history)
                rails.explain().print_llm_calls_summary()
        """
        return self._last.get() or ExplainInfo()

    # -- the core ------------------------------------------------------------------------------

    def _start_call(self) -> _Call:
        call = _Call(info=ExplainInfo())
        self._last.set(call.info)
        return call

    def _warn_streaming(self, what: str) -> None:
        if not self.config.streaming:
            warnings.warn(
                f"LLMRails.{what}: `streaming: True` is not set in config.yml; streaming anyway "
                "(set it to silence this warning)",
                UserWarning,
                stacklevel=3,
            )

    async def _generate(
        self,
        history: list[BaseMessage],
        opts: GenerationOptions,
        call: _Call,
        handler: StreamingHandler | None,
        prompt_mode: bool,
        options: Any,
    ) -> str | dict[str, Any] | GenerationResponse:
        parts: list[str] = []
        blocked: _Blocked | None = None
        try:
            async with aclosing(self._pieces(history, opts, call, None)) as pieces:
                async for piece in pieces:
                    if isinstance(piece, _Blocked):
                        blocked = piece
                        if handler is not None:
                            await handler.push_chunk(piece.error_json())
                        continue
                    parts.append(piece)
                    if handler is not None:
                        await handler.push_chunk(piece)
        except BaseException as exc:
            if handler is not None:
                handler.finish(exc if isinstance(exc, Exception) else None)
            raise
        if handler is not None:
            handler.finish()
        message = blocked.message() if blocked else {"role": "assistant", "content": "".join(parts)}
        if options is None:
            return _text_of(message) if prompt_mode else message
        log = _log(opts.log, call)
        response: str | list[dict[str, Any]] = _text_of(message) if prompt_mode else [message]
        return GenerationResponse(response=response, log=log)

    async def _pieces(
        self,
        history: list[BaseMessage],
        opts: GenerationOptions,
        call: _Call,
        generator: AsyncIterator[str] | None,
    ) -> AsyncGenerator[str | _Blocked, None]:
        """Released text, then a ``_Blocked`` when the call was blocked; records the call."""
        guarded = self._guardrails(external=generator is not None)
        config = merge_configs(
            ensure_config(), {"callbacks": [call.collector], "run_name": "LLMRails"}
        )
        kwargs = dict(opts.llm_params)
        if generator is not None:
            kwargs["generator"] = generator
        try:
            chunks = guarded.astream(history, config, **kwargs)
            async with aclosing(chunks) as stream:
                async for chunk in stream:
                    guard = chunk.response_metadata.get("guardrails")
                    if guard is not None and guard.get("blocked"):
                        yield _Blocked(guard["rail"], guard["stage"], chunk.text, exception=False)
                    elif chunk.text:
                        yield chunk.text
        except GuardrailsViolation as exc:
            yield _Blocked(exc.rail, exc.stage, "", exception=True)
        finally:
            call.summary = summary = call.collector.summary()
            call.info.llm_calls = summary.llm_calls
            call.info.activated_rails = summary.rails
            if self.verbose:
                print(llm_calls_summary(summary.llm_calls))


class _Registered:
    """An action registered under a (possibly new) name, without touching the caller's
    function."""

    def __init__(self, spec: ActionSpec) -> None:
        self.__guardrails_action__ = spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__guardrails_action__.fn(*args, **kwargs)


def _configured_model(config: RailsConfig) -> Runnable[Any, Any] | None:
    main = config.main_model
    if main is None:
        return None
    from langchain_guardrails.llm import build_model

    return build_model(main, config.config_path)


def _history(
    prompt: str | None, messages: Sequence[dict[str, Any] | BaseMessage] | None
) -> list[BaseMessage]:
    if (prompt is None) == (messages is None):
        raise ValueError("LLMRails needs exactly one of prompt=... or messages=...")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str; got {type(prompt).__name__}")
        return to_messages(prompt)
    assert messages is not None
    for index, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") == "context":
            raise ValueError(
                f"messages[{index}]: role 'context' (NeMo context variables) is not supported; "
                "use user, assistant, system or tool messages"
            )
    return to_messages(list(messages))


def _log(wanted: LogOptions, call: _Call) -> GenerationLog | None:
    if not (wanted.activated_rails or wanted.llm_calls or wanted.internal_events):
        return None
    summary = call.summary or call.collector.summary()
    return GenerationLog(
        activated_rails=summary.rails if wanted.activated_rails else [],
        llm_calls=summary.llm_calls if wanted.llm_calls else None,
        internal_events=summary.events if wanted.internal_events else None,
        stats=summary.stats(total_duration=time.perf_counter() - call.started),
    )


def _text_of(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else str(content.get("message", ""))


__all__ = ["GenerationOptions", "LLMRails", "LogOptions"]
