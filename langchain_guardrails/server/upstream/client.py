"""The server's fast path to an OpenAI-compatible upstream: one light client per config.

``ChatOpenAI`` builds an ``openai`` SDK object for every streamed chunk (``construct_type``),
which dominates a busy gateway's CPU. :class:`OpenAICompatibleChat` reads the upstream's SSE
with ``httpx`` and ``orjson`` and builds the ``AIMessageChunk`` the guard needs directly, so
every rail, release rule, usage report and observer works as with any chat model. It takes the
parameters a gateway's upstream needs; a config asking for anything else keeps ``ChatOpenAI``
(see :func:`fast_upstream_model`).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from contextlib import aclosing
from typing import Any, TypeVar, cast

import httpx
import orjson
from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.utils import convert_to_openai_messages
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr
from typing_extensions import override

from langchain_guardrails.config.rails_config import ModelConfig, RailsConfig
from langchain_guardrails.server.upstream.sse_client import (
    ConnectionPool,
    UpstreamStatus,
    lean_route,
    post_events,
)
from langchain_guardrails.streaming.tool_calls import MalformedToolCall, wire_call_deltas

FAST_ENGINES = ("openai", "vllm_openai")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEEPALIVE = 32
"""Idle upstream connections kept per event loop by default (``keepalive_connections``)."""
_SENT = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop",
         "frequency_penalty", "presence_penalty")  # fmt: skip
"""Config parameters sent with every request."""
_CLIENT = ("base_url", "openai_api_base", "api_key", "openai_api_key", "timeout",
           "request_timeout", "max_retries", "stream_usage", "streaming", "model", "model_name",
           "default_headers", "keepalive_connections")  # fmt: skip
"""Config parameters that configure the client."""
_NOT_SENT = frozenset({"stream_usage", "ls_structured_output_format", "structured_output_format"})
"""Call kwargs that are LangChain's own (tracing, usage), not the upstream's."""


class UpstreamError(RuntimeError):
    """The upstream answered with an HTTP error (its status and a short reason)."""


class OpenAICompatibleChat(BaseChatModel):
    """A chat model for an OpenAI-compatible ``/chat/completions`` endpoint, built for speed.

    Example:
        .. code-block:: python

            model = OpenAICompatibleChat(model="gpt-4o-mini", base_url="http://127.0.0.1:8001/v1",
                                         api_key="unused")
            async for chunk in model.astream("Hi"):
                print(chunk.content, end="")
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model_name: str = Field(alias="model")
    """The upstream's model name."""
    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr | None = None
    timeout: float | None = 600.0
    """Seconds for connecting and between bytes (``None``: no limit)."""
    max_retries: int = 2
    """Retries of a connection that could not be opened (never of a started answer)."""
    default_headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    """Sent with every request (``temperature``, ``max_tokens``...); request kwargs win."""
    stream_usage: bool = True
    """Ask for the usage chunk (``stream_options.include_usage``)."""
    keepalive_connections: int = KEEPALIVE
    """Idle upstream connections kept for the next requests (0: a new connection each time).
    Reuse saves a TCP (and TLS) handshake per request, which matters most for a far ``https``
    upstream. A connection goes back only after a whole answer; one that the upstream closed
    while idle is replaced, and the request sent again, before any byte of the answer."""

    _clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = PrivateAttr(
        default_factory=weakref.WeakKeyDictionary
    )
    """One connection pool per event loop (shared by copies of this model)."""
    _pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ConnectionPool] = PrivateAttr(
        default_factory=weakref.WeakKeyDictionary
    )
    """The lean client's idle connections, one pool per event loop (shared by copies)."""
    _lean: bool | None = PrivateAttr(default=None)
    """Whether async streams take the lean client: decided at the first (the environment's
    proxy settings are read then, as ``httpx`` reads them when its client is built)."""
    _ssl_context: ssl.SSLContext | None = PrivateAttr(default=None)
    """Built at the first https request (loading CA certificates takes milliseconds)."""

    @property
    @override
    def _llm_type(self) -> str:
        return "openai-compatible"

    @property
    @override
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "base_url": self.base_url, **self.params}

    @override
    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools as OpenAI's API takes them (``tool_choice`` ``"any"`` is ``"required"``,
        a tool name is that function).

        Example:
            .. code-block:: python

                model.bind_tools([get_weather], tool_choice="get_weather")
        """
        converted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            if tool_choice == "any":
                tool_choice = "required"
            elif isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "required"):
                tool_choice = {"type": "function", "function": {"name": tool_choice}}
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=converted, **kwargs)

    def _payload(
        self, messages: list[BaseMessage], stop: list[str] | None, stream: bool, kwargs: Any
    ) -> bytes:
        payload: dict[str, Any] = {
            "model": self.model_name,
            "messages": convert_to_openai_messages(messages),
            **self.params,
            **{k: v for k, v in kwargs.items() if k not in _NOT_SENT},
            "stream": stream,
        }
        if stop is not None:
            payload["stop"] = stop
        if stream and kwargs.get("stream_usage", self.stream_usage):
            payload["stream_options"] = {"include_usage": True}
        return orjson.dumps(payload)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.default_headers}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        return headers

    def _pool(self) -> ConnectionPool | None:
        if self.keepalive_connections < 1:
            return None
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = ConnectionPool(self.keepalive_connections)
        return pool

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # Only behind a proxy (see lean_route). The server's own limit bounds the
            # connections; idle ones are kept as the lean client's pool keeps them.
            limits = httpx.Limits(
                max_connections=None, max_keepalive_connections=self.keepalive_connections
            )
            transport = httpx.AsyncHTTPTransport(retries=self.max_retries, limits=limits)
            client = httpx.AsyncClient(
                transport=transport, timeout=self.timeout, headers=self._headers()
            )
            self._clients[loop] = client
        return client

    @override
    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        body = self._payload(messages, stop, True, kwargs)
        url = self.base_url.rstrip("/") + "/chat/completions"
        if self._lean is None:
            self._lean = lean_route(url)
        if self._lean:
            if self._ssl_context is None and url.startswith("https:"):
                self._ssl_context = httpx.create_ssl_context()
            events = post_events(
                url, self._headers(), body, read_timeout=self.timeout,
                retries=self.max_retries, ssl_context=self._ssl_context, pool=self._pool(),
            )  # fmt: skip
        else:
            events = self._httpx_events(url, body)
        try:
            async with aclosing(events):
                async for data in events:
                    chunk = _generation(data)
                    if chunk is None:
                        continue
                    if run_manager is not None:
                        await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk
        except UpstreamStatus as exc:
            raise _error(exc.status, exc.body) from None

    async def _httpx_events(self, url: str, body: bytes) -> AsyncGenerator[bytes, None]:
        client = self._async_client()
        async with client.stream("POST", url, content=body) as response:
            if response.status_code >= 400:
                raise _error(response.status_code, await response.aread())
            done = False
            async for line in response.aiter_lines():
                if done or not line.startswith("data:"):
                    # Blank separators, comments (keep-alives), `event:` lines; after [DONE] the
                    # body is read to its end, so the connection goes back to the pool.
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    continue
                yield data.encode()

    @override
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        body = self._payload(messages, stop, True, kwargs)
        url = self.base_url.rstrip("/") + "/chat/completions"
        transport = httpx.HTTPTransport(retries=self.max_retries)
        with (
            httpx.Client(
                transport=transport, timeout=self.timeout, headers=self._headers()
            ) as http,
            http.stream("POST", url, content=body) as response,
        ):
            if response.status_code >= 400:
                raise _error(response.status_code, response.read())
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = _generation(data)
                if chunk is not None:
                    if run_manager is not None:
                        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk

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


def _error(status: int, raw: bytes) -> UpstreamError:
    try:
        error = orjson.loads(raw).get("error") or {}
        reason = error.get("code") or error.get("type") or ""
    except (ValueError, AttributeError):
        reason = ""
    # The upstream's message may quote the request; only its status and code are kept.
    return UpstreamError(f"upstream answered HTTP {status}" + (f" ({reason})" if reason else ""))


def _generation(data: bytes | str) -> ChatGenerationChunk | None:
    """One event's ``chat.completion.chunk`` as the generation chunk a chat model yields (None
    when it carries nothing). An event that is not a JSON object raises :class:`UpstreamError`
    (without its text)."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamError("upstream sent an event that is not JSON") from None
    if not isinstance(event, Mapping):
        raise UpstreamError("upstream sent an event that is not a JSON object")
    parsed = _chunk(event)
    if parsed.__class__ is str:
        return text_generation(parsed)
    return None if parsed is None else ChatGenerationChunk(message=cast(AIMessageChunk, parsed))


def text_generation(text: str) -> ChatGenerationChunk:
    """A text-only generation chunk, equal to ``ChatGenerationChunk(message=AIMessageChunk(
    content=text))`` but built without running validators that have nothing to do for a plain
    string: validating two models per upstream chunk was a fifth of a busy gateway's CPU (the
    issue's profile asks for no per-chunk objects; the guard's pipeline needs these two, so
    they are made cheap). A test compares the result with the validated construction.

    Example:
        .. code-block:: python

            text_generation("Hi").message.content  # "Hi"
    """
    message = _unvalidated(
        AIMessageChunk,
        {"content": text, "additional_kwargs": {}, "response_metadata": {},
         "type": "AIMessageChunk", "name": None, "id": None, "tool_calls": [],
         "invalid_tool_calls": [], "usage_metadata": None, "tool_call_chunks": [],
         "chunk_position": None},
        {"content"},
        {},
    )  # fmt: skip
    return _unvalidated(
        ChatGenerationChunk,
        {"text": text, "generation_info": None, "type": "ChatGenerationChunk", "message": message},
        {"message", "text"},
        None,
    )


_T = TypeVar("_T", bound=BaseModel)


def _unvalidated(
    cls: type[_T], values: dict[str, Any], fields_set: set[str], extra: dict[str, Any] | None
) -> _T:
    # What pydantic's model_construct does, minus its per-field default lookup (which costs
    # more than validating these small models).
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", fields_set)
    object.__setattr__(model, "__pydantic_extra__", extra)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def _chunk(event: Mapping[str, Any]) -> AIMessageChunk | str | None:
    """One ``chat.completion.chunk`` as an ``AIMessageChunk``, as its text alone when it
    carries nothing else (the common case), or None when it carries nothing.

    An ``error`` event (vLLM and others report a failure mid-stream this way) raises
    :class:`UpstreamError` with its code only: its message may quote the request.
    """
    if "error" in event:
        error = event["error"] if isinstance(event["error"], Mapping) else {}
        reason = error.get("code") or error.get("type") or ""
        raise UpstreamError(
            "upstream reported an error mid-stream" + (f" ({reason})" if reason else "")
        )
    usage = event.get("usage")
    usage_metadata = _usage(usage) if usage else None
    choices = event.get("choices")
    if not choices:
        return AIMessageChunk(content="", usage_metadata=usage_metadata) if usage else None
    choice = choices[0]
    delta = choice.get("delta") or {}
    content = delta.get("content") or ""
    calls = delta.get("tool_calls")
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    finish = choice.get("finish_reason")
    plain = calls is None and not (reasoning or finish or usage or choice.get("logprobs"))
    if plain and isinstance(content, str):
        return content  # the common case: text only
    metadata: dict[str, Any] = {}
    if finish:
        metadata = {"finish_reason": finish, "model_name": event.get("model")}
    if choice.get("logprobs"):
        metadata["logprobs"] = choice["logprobs"]
    if not isinstance(content, str):
        raise UpstreamError(f"upstream sent a malformed chunk: content is {type(content).__name__}")
    try:
        chunks = wire_call_deltas(calls) if calls is not None else []
    except MalformedToolCall as exc:
        # The message names the field and its type (ours), never the upstream's text.
        raise UpstreamError(f"upstream sent a malformed chunk: {exc}") from None
    return AIMessageChunk(
        content=content,
        additional_kwargs={"reasoning_content": reasoning} if reasoning else {},
        tool_call_chunks=chunks,
        response_metadata=metadata,
        usage_metadata=usage_metadata,
    )


def _usage(usage: Mapping[str, Any]) -> UsageMetadata:
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    total = usage.get("total_tokens") or prompt + completion
    return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": total}


def fast_upstream_model(config: RailsConfig) -> OpenAICompatibleChat | None:
    """The fast-path model for the main model of ``config``, or None when it needs ChatOpenAI
    (another engine, or a parameter the light client does not take).

    Example:
        .. code-block:: python

            model = fast_upstream_model(RailsConfig.from_path("configs/gateway"))
    """
    main = config.main_model
    if main is None or main.engine not in FAST_ENGINES:
        return None
    parameters = dict(main.parameters)
    if set(parameters) - set(_SENT) - set(_CLIENT):
        return None
    name = main.model or parameters.get("model") or parameters.get("model_name")
    base_url = parameters.get("base_url") or parameters.get("openai_api_base")
    if main.engine == "vllm_openai" and not base_url:
        return None
    key = _api_key(main, parameters, default=base_url is None)
    if not name or (base_url is None and key is None):
        return None  # ChatOpenAI reports what is missing
    timeout = parameters.get("timeout", parameters.get("request_timeout", 600.0))
    if not (timeout is None or isinstance(timeout, int | float)):
        return None
    return OpenAICompatibleChat(
        model_name=str(name),
        base_url=str(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL),
        api_key=SecretStr(key) if key else None,
        timeout=timeout,
        max_retries=int(parameters.get("max_retries", 2)),
        default_headers=dict(parameters.get("default_headers") or {}),
        params={k: parameters[k] for k in _SENT if k in parameters},
        stream_usage=bool(parameters.get("stream_usage", True)),
        keepalive_connections=int(parameters.get("keepalive_connections", KEEPALIVE)),
    )


def _api_key(main: ModelConfig, parameters: Mapping[str, Any], *, default: bool) -> str | None:
    key = parameters.get("api_key") or parameters.get("openai_api_key")
    if key:
        return str(key)
    if main.api_key_env_var:
        return os.environ.get(main.api_key_env_var)
    return os.environ.get("OPENAI_API_KEY") or (None if default else "EMPTY")
