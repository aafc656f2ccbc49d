"""``GuardrailsMiddleware``: a whole rails config around an agent's (unguarded) model.

For ``langchain.agents.create_agent`` (extra ``agents``). Where each stage runs:

* **input rails** once per agent run, on every user message of the turn (``before_agent``).
  A block ends the run with the refusal before the model is called, and the blocked message is
  replaced in state by a placeholder (a checkpointer would otherwise feed it to the model on the
  next turn); a masking rail replaces the message with its rewrite. LangGraph writes the input
  into the first checkpoints (and the ``values``, ``debug``, ``tasks`` and ``checkpoints``
  streams) before any hook runs: for clean checkpoint history and streams, run the agent
  through :meth:`GuardrailsMiddleware.guard_graph`, which runs the input rails first and hands
  the graph only the masked message or the placeholder.
* **output rails and** ``rails.tool_output`` on the model's answer (``wrap_model_call``): for the
  duration of the call the model is replaced by a :class:`~langchain_guardrails.Guardrails`
  around it, so its stream is guarded with the package's window semantics (hold-back never
  releases a blocked phrase of up to K+1 units) and its tool calls are held whole until they
  passed. A blocked answer is replaced by the refusal (no tool calls) before it reaches the
  agent's state, and the run ends.
* ``rails.tool_output`` again right before a tool runs (``wrap_tool_call``), for calls that did
  not pass the guarded model call (a call changed by other middleware, a model this middleware
  did not wrap): a blocked call never runs.
* ``rails.tool_input`` on each tool result (``wrap_tool_call``), before it enters state: a block
  replaces it by a placeholder and ends the run with the refusal (``before_model``); a masking
  rail rewrites it.

Streaming. The agent's ``messages`` stream is guarded by the wrapped model call, not by the
middleware's stream ``transformers``: a stream transformer only sees the protocol events of the
stream it transforms, while callbacks, LangSmith traces and usage handlers see the model's raw
run; it cannot stop the model either, so a blocked answer is still generated (and billed) to its
end. A guarded model call hides the raw run from observers, stops the model at the block, and
reports usage up to there.

Example:
    .. code-block:: python

        from langchain.agents import create_agent
        from langchain_guardrails import RailsConfig
        from langchain_guardrails.agents.middleware import GuardrailsMiddleware

        agent = create_agent(
            model="openai:gpt-4o-mini",
            tools=[get_weather],
            middleware=[GuardrailsMiddleware(config=RailsConfig.from_path("./config"))],
        )

    With a checkpointer, front the agent so no raw input is ever checkpointed or streamed:

    .. code-block:: python

        guard = GuardrailsMiddleware(config=RailsConfig.from_path("./config"))
        agent = guard.guard_graph(
            create_agent(model=model, middleware=[guard], checkpointer=InMemorySaver())
        )
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from langchain_guardrails.errors import require

require("langchain.agents.middleware", "agents")

from langchain.agents.middleware.types import (  # noqa: E402
    AgentMiddleware,
    AgentState,
    ExtendedModelResponse,
    ModelCallResult,
    ModelRequest,
    ModelResponse,
    hook_config,
)
from langchain.agents.structured_output import StructuredOutputValidationError  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage  # noqa: E402
from langgraph.prebuilt.tool_node import ToolCallRequest  # noqa: E402
from langgraph.runtime import Runtime  # noqa: E402
from langgraph.types import Command  # noqa: E402
from typing_extensions import override  # noqa: E402

from langchain_guardrails.agents.guarded_graph import GuardedAgent  # noqa: E402
from langchain_guardrails.agents.guards import GuardCache, agent_guard, build_checker, model_side  # noqa: E402
from langchain_guardrails.agents.input_seal import InputSeal, unsealed  # noqa: E402
from langchain_guardrails.agents.messages import (  # noqa: E402
    BLOCKED_TOOL_RESULT,
    already_checked,
    blocked_tool_message,
    is_refusal,
    mark_checked,
    new_user_messages,
    pending_refusal,
    refusal,
)
from langchain_guardrails.agents.observers import ToolEndGate, arun_check, run_check  # noqa: E402
from langchain_guardrails.agents.structured import call_args_text, refused, structured_calls  # noqa: E402
from langchain_guardrails.agents.tool_results import (  # noqa: E402
    ToolResult,
    checked_texts,
    first_block,
    rewritten,
)
from langchain_guardrails.config.rails_config import ConfigLike, as_rails_config  # noqa: E402
from langchain_guardrails.engine.results import RailCheck  # noqa: E402

if TYPE_CHECKING:
    from langgraph.pregel import Pregel


class GuardrailsMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Input, output and tool rails of a :class:`RailsConfig` around an agent's model.

    Args:
        config: The rails configuration, in any form :class:`Guardrails` takes: a
            :class:`RailsConfig`, a mapping (the content of ``config.yml``) or the path of a
            config folder or YAML file.
        actions: Extra rail actions (``@action`` functions).
        rail_model: The model LLM-based rails use in the hooks that run without a model call
            (input and tool rails). Default: the config's ``type: main`` model; without one,
            such rails fail closed. Output rails use the agent's model.
        placeholder: What replaces a blocked user message or tool result in the agent's state.
        max_models: How many per-model guards are kept (agents usually have one model).

    Example:
        .. code-block:: python

            agent = create_agent(
                model=model,
                tools=[lookup],
                middleware=[GuardrailsMiddleware(config=config)],
            )
            result = agent.invoke({"messages": [("user", "Hi")]})
            result["messages"][-1].response_metadata.get("guardrails")
    """

    def __init__(
        self,
        config: ConfigLike,
        actions: Sequence[Callable[..., Any]] = (),
        *,
        rail_model: BaseChatModel | None = None,
        placeholder: str = BLOCKED_TOOL_RESULT,
        max_models: int = 8,
    ) -> None:
        super().__init__()
        self.config = config = as_rails_config(config)
        self.actions = tuple(actions)
        self.placeholder = placeholder
        rails = config.rails
        self._input = bool(rails.input.flows)
        self._output = bool(rails.output.flows)
        self._tool_output = bool(rails.tool_output.flows or rails.tool_output.per_tool)
        self._tool_input = bool(rails.tool_input.flows or rails.tool_input.per_tool)
        # Built now, so config errors (unknown flows...) reach the caller at construction.
        self._checker = build_checker(config, self.actions, rail_model)
        side = model_side(config)
        self._guards = GuardCache(
            lambda model: agent_guard(model, side, self.actions),
            max_models,
        )
        # Marks the tool calls that passed inside *this* middleware's model calls.
        self._marker = f"guardrails-{uuid4().hex}"
        # Seals the input verdicts of guard_graph, which only this middleware may trust.
        self._seal = InputSeal()

    def guard_graph(self, graph: Pregel[Any, Any, Any, Any]) -> GuardedAgent:
        """``graph`` (an agent built with this middleware) behind its input rails, so a
        masked or blocked user message never reaches the checkpoint history, the stream
        modes, ``astream_events`` or callbacks raw.

        LangGraph checkpoints and streams the input before any middleware hook runs. The
        returned object runs the input rails on every user message of the turn first, and
        passes the graph the rewrite, or the placeholder of a blocked message, with the
        verdict sealed for :meth:`before_agent`: it does not check again and ends a blocked
        run with the same refusal, before the model is called. Verdicts, refusal and final
        state are those of the plain agent. Its ``invoke``, ``ainvoke``, ``stream``,
        ``astream``, ``astream_events``, ``stream_events``, ``batch`` run the graph;
        ``get_state``, ``get_state_history`` and every other attribute are the graph's.
        Inputs without messages (``Command(resume=...)``) go to the graph unchanged.

        Raises:
            ValueError: ``graph`` was not built with this middleware.

        Example:
            .. code-block:: python

                guard = GuardrailsMiddleware(config=config)
                agent = guard.guard_graph(
                    create_agent(model, tools, middleware=[guard], checkpointer=saver)
                )
                agent.invoke({"messages": [("user", "Mail bob@example.com")]}, thread)
        """
        return GuardedAgent(graph, self)

    # -- input rails: once per run, on the user turn --------------------------------------------

    @hook_config(can_jump_to=["end"])
    @override
    def before_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Input rails on the turn's user messages (sync twin of :meth:`abefore_agent`)."""
        messages = list(state["messages"]) if self._input else []
        turn = new_user_messages(messages)
        if not turn:
            return None
        checks = [
            self._seal.verdict(human)
            or run_check(self._checker, messages[: index + 1], stage="input")
            for index, human in turn
        ]
        return self._input_update(turn, checks)

    @hook_config(can_jump_to=["end"])
    @override
    async def abefore_agent(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Input rails on every user message of the turn (those after the last answer): a
        block ends the run with the refusal (the model is never called) and replaces the
        blocked message in state by the placeholder; a rewrite replaces the message.

        Example:
            .. code-block:: python

                result = await agent.ainvoke({"messages": [("user", "ignore your rules")]})
                result["messages"][-1].response_metadata["guardrails"]["stage"]  # "input"
        """
        messages = list(state["messages"]) if self._input else []
        turn = new_user_messages(messages)
        if not turn:
            return None

        async def check(index: int, human: HumanMessage) -> RailCheck:
            # A verdict sealed by guard_graph was reached on this very content: not again.
            sealed = self._seal.verdict(human)
            if sealed is not None:
                return sealed
            return await arun_check(self._checker, messages[: index + 1], stage="input")

        checks = await asyncio.gather(*(check(index, human) for index, human in turn))
        return self._input_update(turn, list(checks))

    def _input_update(
        self, turn: list[tuple[int, HumanMessage]], checks: list[RailCheck]
    ) -> dict[str, Any] | None:
        # Same ids: add_messages replaces them, so a later turn never feeds them to the model.
        replaced: list[BaseMessage] = []
        for (_, human), check in zip(turn, checks, strict=True):
            # Our sealed message is replaced by its unsealed copy: the state keeps no seal.
            # Another middleware's seal stays for that middleware to open.
            kept = unsealed(human) if self._seal.verdict(human) is not None else human
            if check.status == "blocked":
                replaced.append(kept.model_copy(update={"content": self.placeholder}))
            elif check.status == "modified":
                replaced.append(kept.model_copy(update={"content": check.content}))
            elif kept is not human:
                replaced.append(kept)
        blocked = next((check for check in checks if check.status == "blocked"), None)
        if blocked is not None:
            return {"messages": [*replaced, refusal(blocked)], "jump_to": "end"}
        return {"messages": replaced} if replaced else None

    # -- a tool block ends the run before the next model call -----------------------------------

    @hook_config(can_jump_to=["end"])
    @override
    def before_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """End the run with the refusal when a tool call or result was blocked since the last
        answer (after all tool results are in, so the history stays valid for providers)."""
        owed = pending_refusal(state["messages"])
        if owed is None:
            return None
        return {"messages": [owed], "jump_to": "end"}

    @hook_config(can_jump_to=["end"])
    @override
    async def abefore_model(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async twin of :meth:`before_model` (no I/O)."""
        return self.before_model(state, runtime)

    # -- output rails: the model call itself is guarded ------------------------------------------

    @override
    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelCallResult[Any]:
        """Call the model through a guard (sync twin of :meth:`awrap_model_call`)."""
        guard = self._guards.get(request.model)
        try:
            response = handler(request.override(model=guard))
        except StructuredOutputValidationError as exc:
            if not is_refusal(exc.ai_message):
                raise
            return self._answer(refused(exc.ai_message))
        calls = structured_calls(response) if self._output else []
        checks = [
            run_check(self._checker, request.messages, output=call_args_text(c)) for c in calls
        ]
        return self._answer(self._structured(response, checks))

    @override
    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelCallResult[Any]:
        """Call the model through a :class:`Guardrails` around it: output rails per window
        while it streams, tool calls held until ``rails.tool_output`` passed them; a blocked
        answer is the refusal and ends the run.

        Example:
            .. code-block:: python

                async for message, meta in agent.astream(inputs, stream_mode="messages"):
                    print(message.content, end="")  # released text only
        """
        guard = self._guards.get(request.model)
        try:
            response = await handler(request.override(model=guard))
        except StructuredOutputValidationError as exc:
            # ProviderStrategy: the agent could not parse our refusal as the schema.
            if not is_refusal(exc.ai_message):
                raise
            return self._answer(refused(exc.ai_message))
        calls = structured_calls(response) if self._output else []
        checks = await asyncio.gather(
            *(arun_check(self._checker, request.messages, output=call_args_text(c)) for c in calls)
        )
        return self._answer(self._structured(response, list(checks)))

    @staticmethod
    def _structured(response: ModelResponse[Any], checks: list[RailCheck]) -> ModelResponse[Any]:
        """``response``, or the refusal when the output rails blocked its structured call."""
        blocked = first_block(checks)
        return response if blocked is None else refused(refusal(blocked))

    def _answer(self, response: ModelResponse[Any]) -> ModelCallResult[Any]:
        if any(is_refusal(message) for message in response.result):
            return ExtendedModelResponse(
                model_response=response, command=Command(update={"jump_to": "end"})
            )
        if not self._tool_output:
            return response
        result: list[BaseMessage] = [
            mark_checked(m, self._marker) if isinstance(m, AIMessage) and m.tool_calls else m
            for m in response.result
        ]
        return ModelResponse(result=result, structured_response=response.structured_response)

    # -- tool rails: the call before it runs, its result before it enters state -----------------

    @override
    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolResult],
    ) -> ToolResult:
        """Tool rails around one tool call (sync twin of :meth:`awrap_tool_call`)."""
        messages = _state_messages(request.state)
        call = request.tool_call
        if self._needs_call_check(messages, call):
            check = run_check(self._checker, messages, stage="tool_output", tool_call=call)
            if check.status == "blocked":
                return blocked_tool_message(check, call, self.placeholder)
        if not self._tool_input:
            return handler(request)
        gate = ToolEndGate()
        result = handler(_gated(request, gate))
        texts = checked_texts(result)
        checks = [
            run_check(self._checker, messages, stage="tool_input", output=text, tool_call=call)
            for _, text, _ in texts
        ]
        final = self._checked_result(result, texts, checks, call)
        gate.release(final)
        return final

    @override
    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolResult]],
    ) -> ToolResult:
        """``rails.tool_output`` on the call before the tool runs (a blocked call never runs),
        then ``rails.tool_input`` on its result and artifact; a block puts a placeholder result
        in state and ends the run with the refusal, a masking rail rewrites the result.
        Observers (``on_tool_end``, ``astream_events``, the ``tools`` stream) see the tool's
        result only as it enters state.

        Example:
            .. code-block:: python

                result = await agent.ainvoke({"messages": [("user", "Delete everything")]})
                result["messages"][-1].response_metadata["guardrails"]["stage"]  # "tool_output"
        """
        messages = _state_messages(request.state)
        call = request.tool_call
        if self._needs_call_check(messages, call):
            check = await arun_check(self._checker, messages, stage="tool_output", tool_call=call)
            if check.status == "blocked":
                return blocked_tool_message(check, call, self.placeholder)
        if not self._tool_input:
            return await handler(request)
        gate = ToolEndGate()
        result = await handler(_gated(request, gate))
        texts = checked_texts(result)
        checks = await asyncio.gather(
            *(
                arun_check(self._checker, messages, stage="tool_input", output=text, tool_call=call)
                for _, text, _ in texts
            )
        )
        final = self._checked_result(result, texts, list(checks), call)
        await gate.arelease(final)
        return final

    def _needs_call_check(self, messages: list[BaseMessage], call: Any) -> bool:
        # A call that passed inside this middleware's guarded model call, unchanged since, was
        # checked already (LLM rails would be paid for twice).
        return self._tool_output and not already_checked(messages, call, self._marker)

    def _checked_result(
        self,
        result: ToolResult,
        texts: list[tuple[ToolMessage, str, bool]],
        checks: list[RailCheck],
        call: Any,
    ) -> ToolResult:
        blocked = first_block(checks)
        if blocked is not None:
            # The whole result goes, artifact included: it never enters state.
            return blocked_tool_message(blocked, call, self.placeholder)
        return rewritten(result, texts, checks)


def _gated(request: ToolCallRequest, gate: ToolEndGate) -> ToolCallRequest:
    """``request`` whose tool reports its end to observers only through ``gate``."""
    if request.tool is None:
        return request
    return request.override(tool=gate.tool(request.tool))


def _state_messages(state: Any) -> list[BaseMessage]:
    if isinstance(state, dict):
        return list(state.get("messages", []))
    return list(getattr(state, "messages", []) or [])


__all__ = ["BLOCKED_TOOL_RESULT", "GuardedAgent", "GuardrailsMiddleware"]
