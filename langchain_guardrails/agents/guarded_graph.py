"""``GuardedAgent``: an agent graph whose input rails run before LangGraph sees the input.

Built by :meth:`GuardrailsMiddleware.guard_graph
<langchain_guardrails.agents.middleware.GuardrailsMiddleware.guard_graph>`. Without it, LangGraph
writes a turn's raw user messages into the checkpoint history and emits them on the
``values``, ``debug``, ``tasks`` and ``checkpoints`` streams before the middleware's
``before_agent`` hook can mask or block them. With it, the graph only ever receives the
messages the input rails allow to be kept (see :mod:`._middleware_seal`); everything else about
the run (verdicts, refusal, final state, streams) is the agent's own.

It is a thin front: the run methods screen the input, then call the graph's own method; every
other attribute (``get_state``, ``get_state_history``, ``update_state``, ``get_graph`` ...) is
the graph's. It opens no run of its own, so callbacks and ``astream_events`` see the graph's
run, whose input is already screened, and the rail checks of the screening relayed the way the
middleware's hooks relay theirs (the text under check redacted, the decisions kept).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import TYPE_CHECKING, Any, Literal, Protocol

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.graph import Graph
from langchain_core.runnables.schema import StreamEvent
from langchain_core.runnables.utils import ConfigurableFieldSpec
from pydantic import BaseModel
from typing_extensions import override

from langchain_guardrails.agents.input_seal import InputSeal, TurnInput, has_messages
from langchain_guardrails.agents.observers import arun_check, run_check
from langchain_guardrails.engine.results import RailCheck
from langchain_guardrails.guard.chat_model import Guardrails

if TYPE_CHECKING:
    from langgraph.pregel import Pregel


class ScreeningMiddleware(Protocol):
    """What the front reads of its :class:`GuardrailsMiddleware` (which imports this module)."""

    placeholder: str
    _input: bool
    _checker: Guardrails
    _seal: InputSeal


class GuardedAgent(Runnable[Any, Any]):
    """An agent graph (``create_agent(...)``) fronted by its :class:`GuardrailsMiddleware`'s
    input rails: masked and blocked user messages never reach the checkpoint history, the
    stream modes, ``astream_events`` or callbacks raw.

    Args:
        graph: The compiled agent graph.
        middleware: The :class:`GuardrailsMiddleware` the graph was built with.

    Example:
        .. code-block:: python

            agent = middleware.guard_graph(
                create_agent(model, tools, middleware=[middleware], checkpointer=saver)
            )
            agent.invoke({"messages": [("user", "Mail bob@example.com")]}, config)
            [s.values for s in agent.get_state_history(config)]  # never the raw address
    """

    def __init__(self, graph: Pregel[Any, Any, Any, Any], middleware: ScreeningMiddleware) -> None:
        # A graph without this middleware would take the placeholder for a user message.
        if not any(_hook_owner(node) is middleware for node in graph.nodes.values()):
            raise ValueError(
                "guard_graph needs an agent built with this middleware: "
                "create_agent(..., middleware=[middleware])"
            )
        self.graph = graph
        self.middleware = middleware

    def __getattr__(self, name: str) -> Any:
        # Only called for what this class lacks: the graph's state API and the rest.
        if name in ("graph", "middleware"):
            raise AttributeError(name)
        return getattr(self.graph, name)

    # -- schemas are the graph's (LangServe and schema tools see the real types) -------------

    @property
    @override
    def InputType(self) -> Any:
        return self.graph.InputType

    @property
    @override
    def OutputType(self) -> Any:
        return self.graph.OutputType

    @override
    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return self.graph.get_input_schema(config)

    @override
    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return self.graph.get_output_schema(config)

    @override
    def get_input_jsonschema(self, config: RunnableConfig | None = None) -> dict[str, Any]:
        return self.graph.get_input_jsonschema(config)

    @override
    def get_output_jsonschema(self, config: RunnableConfig | None = None) -> dict[str, Any]:
        return self.graph.get_output_jsonschema(config)

    @override
    def get_graph(self, config: RunnableConfig | None = None) -> Graph:
        return self.graph.get_graph(config)

    @override
    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return self.graph.get_name(suffix, name=name)

    @property
    @override
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        return self.graph.config_specs

    # -- runs: screen the input, then the graph's own method ---------------------------------

    def screen(self, input: Any, config: RunnableConfig | None = None) -> Any:
        """``input`` as the graph may see it (sync twin of :meth:`ascreen`)."""
        if not self.middleware._input or not has_messages(input):
            return input
        turn = TurnInput(input, self._history(config))
        if not turn.turn:
            return input
        checker = self.middleware._checker
        checks = [
            run_check(checker, turn.state[: index + 1], base=config, stage="input")
            for index, _ in turn.turn
        ]
        return self._sealed(turn, checks)

    async def ascreen(self, input: Any, config: RunnableConfig | None = None) -> Any:
        """``input`` with every user message of the turn replaced by what the input rails
        allow to be kept (its rewrite, or the placeholder of a blocked message), sealed with
        the verdict ``before_agent`` acts on; other inputs unchanged.

        Example:
            .. code-block:: python

                screened = await agent.ascreen({"messages": [("user", "bob@example.com")]})
                screened["messages"][0].text  # "<EMAIL_ADDRESS>"
        """
        if not self.middleware._input or not has_messages(input):
            return input
        turn = TurnInput(input, await self._ahistory(config))
        if not turn.turn:
            return input
        checker = self.middleware._checker
        checks = await asyncio.gather(
            *(
                arun_check(checker, turn.state[: index + 1], base=config, stage="input")
                for index, _ in turn.turn
            )
        )
        return self._sealed(turn, list(checks))

    def _sealed(self, turn: TurnInput, checks: list[RailCheck]) -> dict[str, Any]:
        seal, placeholder = self.middleware._seal, self.middleware.placeholder
        return turn.screened(
            [
                seal.seal(human, check, placeholder)
                for (_, human), check in zip(turn.turn, checks, strict=True)
            ]
        )

    @override
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.graph.invoke(self.screen(input, config), config, **kwargs)

    @override
    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self.graph.ainvoke(await self.ascreen(input, config), config, **kwargs)

    @override
    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        yield from self.graph.stream(self.screen(input, config), config, **kwargs)

    @override
    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        screened = await self.ascreen(input, config)
        async for item in self.graph.astream(screened, config, **kwargs):
            yield item

    @override
    def astream_events(  # type: ignore[override]
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        version: Literal["v1", "v2", "v3"] = "v2",
        **kwargs: Any,
    ) -> AsyncIterator[StreamEvent] | Awaitable[Any]:
        # The graph's, not Runnable's default: that one would report this object's (raw)
        # input as the root run's start.
        if version == "v3":
            return self._events_v3(input, config, **kwargs)
        return self._events(input, config, version, **kwargs)

    async def _events(
        self, input: Any, config: RunnableConfig | None, version: Any, **kwargs: Any
    ) -> AsyncIterator[StreamEvent]:
        screened = await self.ascreen(input, config)
        async for event in self.graph.astream_events(screened, config, version=version, **kwargs):
            yield event

    async def _events_v3(self, input: Any, config: RunnableConfig | None, **kwargs: Any) -> Any:
        screened = await self.ascreen(input, config)
        return await self.graph.astream_events(screened, config, version="v3", **kwargs)

    @override
    def stream_events(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.graph.stream_events(self.screen(input, config), config, **kwargs)

    @override
    async def astream_log(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        # The graph's: Runnable's default would take the first run it sees, a rail check of
        # the screening, for the root.
        screened = await self.ascreen(input, config)
        async for patch in self.graph.astream_log(screened, config, **kwargs):
            yield patch

    # -- the state before this turn: the context the input rails check the turn in ----------

    def _history(self, config: RunnableConfig | None) -> list[BaseMessage]:
        if config is None or not _has_thread(self.graph, config):
            return []
        return _messages(self.graph.get_state(config).values)

    async def _ahistory(self, config: RunnableConfig | None) -> list[BaseMessage]:
        if config is None or not _has_thread(self.graph, config):
            return []
        return _messages((await self.graph.aget_state(config)).values)


def _hook_owner(node: Any) -> Any:
    """The middleware whose hook a graph node runs (``None`` for other nodes)."""
    func = getattr(getattr(node, "bound", None), "func", None)
    return getattr(func, "__self__", None)


def _has_thread(graph: Any, config: RunnableConfig) -> bool:
    thread = (config.get("configurable") or {}).get("thread_id")
    return graph.checkpointer not in (None, False, True) and thread is not None


def _messages(values: Any) -> list[BaseMessage]:
    return list(values.get("messages") or []) if isinstance(values, dict) else []
