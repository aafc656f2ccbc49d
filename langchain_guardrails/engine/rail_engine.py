"""The rail engine: resolve flow names to actions, and run the rails of one stage on one text.

All rails of a stage run concurrently; the first block wins and cancels the others. Rails that
rewrite (masking) run first, in config order, so checkers (which may send text to an LLM) see
the masked text. A rail that raises or times out blocks unless its flow says ``on_error: allow``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManager
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from langchain_guardrails.config.actions import ActionSpec, RailResult, spec_of
from langchain_guardrails.config.nemo_actions import refuse_unfilled
from langchain_guardrails.config.rails_config import FlowSpec, RailsConfig
from langchain_guardrails.engine.canonical import check_text
from langchain_guardrails.engine.cascade import Cascade, split_cascade
from langchain_guardrails.engine.colang_rails import colang_rail
from langchain_guardrails.engine.nemo_library import refuse_unknown_nemo_flow
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.observability.events import RailEvents, rail_manager
from langchain_guardrails.observability.safe_logging import log_failure
from langchain_guardrails.rails import BUILTIN_RAILS

Stage = Literal["input", "output", "tool_input", "tool_output"]
"""Where a rail runs: the user turn, the model's answer, tool results in the input (they go to
the model, like user input), or tool calls the model emits (they act on the world)."""

STAGE_FAMILY: Mapping[str, Literal["input", "output"]] = {
    "input": "input",
    "output": "output",
    "tool_input": "input",
    "tool_output": "output",
}
"""Which built-in rails a stage accepts: tool results are checked by input-side rails, tool
calls by output-side rails (their settings are the ones of that side)."""

_NOT_FOR_TOOLS = frozenset(
    {
        "self check facts",
        "self check hallucination",
        "mask sensitive data on output",
    }
)
"""Built-ins that need an answer's context, or rewrite text a tool call cannot carry."""

logger = logging.getLogger("langchain_guardrails")


@dataclass(frozen=True, slots=True)
class Rail:
    """One configured rail: a flow entry resolved to its action."""

    flow: str
    """The flow as written in config.yml (including ``$`` parameters): the rail's name."""
    spec: ActionSpec
    params: Mapping[str, str]
    timeout: float
    on_error: Literal["block", "allow"]
    refusal: str | None
    cascade: Cascade | None = None
    """When set, this rail is the cheap step of a cascade that escalates to ``escalate``."""
    escalate: Rail | None = None
    """The expensive rail of the cascade, resolved like any rail of the stage."""
    tools: frozenset[str] | None = None
    """The tools it checks (``per_tool`` rails); None: every tool call or result."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of running one stage's rails on one text."""

    allowed: bool
    text: str | None = None
    """The rewritten text, when a rail rewrote it."""
    rail: str | None = None
    reason: str | None = None
    kind: Literal["guardrails_violation", "internal_error"] = "guardrails_violation"
    refusal: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Facts the rail reported: on a block, merged into the violation metadata; on a pass (of
    a stage with one checking rail), e.g. ``{"score": 0.03, "threshold": 0.88}``."""
    spans: tuple[tuple[int, int, str], ...] | None = None
    """``(start, end, replacement)`` of each change in ``text``, when the rail reported them."""


PASS = Decision(allowed=True)


@dataclass(slots=True)
class CallScope:
    """What one guarded call shares with its rails (built per call, never stored on objects)."""

    messages: list[BaseMessage]
    user_message: str
    callbacks: AsyncCallbackManager | None
    """Parent manager for rail child runs, or None when nobody listens."""
    bind_llm: Callable[[Runnable[Any, Any], RunnableConfig], Runnable[Any, Any]]
    run_id: UUID | None = None
    """The guarded run, which rail custom events are dispatched on (when someone listens)."""
    tool_call: Mapping[str, Any] | None = None
    """The tool call under check (tool rails only)."""


def parse_flow(entry: str | FlowSpec) -> tuple[str, dict[str, str], FlowSpec]:
    """Split ``"name $k=v $k2=v2"`` into the action name and its parameters."""
    spec = entry if isinstance(entry, FlowSpec) else FlowSpec(flow=entry)
    name, _, rest = spec.flow.partition("$")
    params: dict[str, str] = {}
    for token in ("$" + rest).split("$")[1:] if rest else ():
        key, sep, value = token.strip().partition("=")
        if not sep or not key:
            raise ConfigError(f"flow {spec.flow!r}: parameter {token.strip()!r} is not key=value")
        params[key.strip()] = value.strip().strip("\"'")
    return " ".join(name.split()), params, spec


class RailEngine:
    """Resolved rails of a config plus the code that runs them. Immutable after construction."""

    def __init__(
        self,
        config: RailsConfig,
        actions: Sequence[Callable[..., Any] | ActionSpec] = (),
        *,
        llm: Runnable[Any, Any] | None = None,
        llms: Callable[[], Mapping[str, Runnable[Any, Any]]] | None = None,
    ) -> None:
        self.config = config
        self._llm = llm
        self._llms = llms or dict
        registered = {s.name: s for s in map(spec_of, (*config.actions, *actions))}
        self.input_rails = tuple(
            self._resolve(e, "input", registered) for e in config.rails.input.flows
        )
        output = tuple(self._resolve(e, "output", registered) for e in config.rails.output.flows)
        self.output_rails = output
        self.tool_input_rails = tuple(
            self._resolve(e, "tool_input", registered) for e in config.rails.tool_input.flows
        ) + self._per_tool("tool_input", registered)
        self.tool_output_rails = tuple(
            self._resolve(e, "tool_output", registered) for e in config.rails.tool_output.flows
        ) + self._per_tool("tool_output", registered)
        masking_tools = [r.flow for r in self.tool_output_rails if r.spec.rewrites]
        if masking_tools:
            raise ConfigError(
                f"rails.tool_output.flows: {masking_tools[0]!r} rewrites text; a tool call is "
                "released whole or not at all, so tool_output rails can only block"
            )
        streaming = config.rails.output.streaming
        rewriters = [r.flow for r in output if r.spec.rewrites]
        if rewriters and streaming.enabled and streaming.stream_first:
            raise ConfigError(
                f"output rail {rewriters[0]!r} rewrites text, which needs hold-back mode: set "
                "rails.output.streaming.stream_first: false (text already released cannot be "
                "rewritten)"
            )

    def _per_tool(self, stage: Stage, registered: Mapping[str, ActionSpec]) -> tuple[Rail, ...]:
        """``rails.<stage>.per_tool``: each tool's rails, which run on that tool only."""
        rails = []
        for tool, entries in getattr(self.config.rails, stage).per_tool.items():
            for entry in entries:
                try:
                    rail = self._resolve(entry, stage, registered)
                except ConfigError as exc:
                    # The error names where the entry is: this tool's list, not `flows`.
                    where = f"rails.{stage}.per_tool.{tool}"
                    raise ConfigError(str(exc).replace(f"rails.{stage}.flows", where)) from exc
                rails.append(replace(rail, tools=frozenset({tool})))
        return tuple(rails)

    def _resolve(
        self, entry: str | FlowSpec, stage: Stage, registered: Mapping[str, ActionSpec]
    ) -> Rail:
        name, params, spec = parse_flow(entry)
        params, cascade = split_cascade(spec, params)
        if name in self.config.colang.flows:
            # A Colang definition wins over a built-in of the same name, as in NeMo.
            action = colang_rail(self.config, name, stage, registered)
        elif name in registered:
            action = registered[name]
            refuse_unfilled(action)
        elif name in BUILTIN_RAILS:
            _check_builtin_stage(name, stage)
            action = BUILTIN_RAILS[name](self.config, params)
        else:
            refuse_unknown_nemo_flow(name, stage)  # NeMo's rails get a reason, not a list
            known = sorted({*BUILTIN_RAILS, *registered, *self.config.colang.flows})
            raise ConfigError(
                f"rails.{stage}.flows: unknown flow {name!r}; known flows: {', '.join(known)}"
            )
        if cascade is not None and action.rewrites:
            raise ConfigError(
                f"flow {spec.flow!r}: the cheap rail of a cascade cannot rewrite text; it "
                "passes or blocks"
            )
        return Rail(
            flow=spec.flow,
            spec=action,
            params=params,
            timeout=spec.timeout or self.config.rails.timeout,
            on_error=spec.on_error,
            refusal=spec.refusal,
            cascade=cascade,
            escalate=None
            if cascade is None
            else self._judge(spec.flow, cascade, stage, registered),
        )

    def _judge(
        self, flow: str, cascade: Cascade, stage: Stage, registered: Mapping[str, ActionSpec]
    ) -> Rail:
        """The escalated rail of a cascade: one plain rail that passes or blocks."""
        where = f"flow {flow!r}: cascade escalate rail {cascade.escalate!r}"
        try:
            judge = self._resolve(cascade.escalate, stage, registered)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        if judge.cascade is not None:
            raise ConfigError(f"{where} is itself a cascade; escalate to one rail")
        if judge.spec.rewrites:
            raise ConfigError(f"{where} rewrites text; a cascade passes or blocks")
        return judge

    async def check(
        self,
        rails: Sequence[Rail],
        text: str,
        stage: Stage,
        scope: CallScope,
        window: int | None = None,
        tool_call: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Run ``rails`` on ``text``: rewriters in order, then checkers concurrently.

        ``window`` is the output window's index, reported to observers; ``tool_call``
        (``{"name", "args", "id"}``) is what tool rails check, injected as ``tool_call``.
        """
        if tool_call is not None:
            scope = replace(scope, tool_call=tool_call)
        # per_tool rails check their own tool's calls and results only.
        name = tool_call.get("name") if tool_call is not None else None
        rails = [r for r in rails if r.tools is None or name in r.tools]
        # Rails check what the consumer will see (see canonical): a rewrite of a normalised
        # text has no positions in the caller's text, so it comes back without spans.
        checked = check_text(text)
        normalised = checked != text
        text = checked
        rewritten = False
        spans: tuple[tuple[int, int, str], ...] | None = None
        checkers = []
        for rail in rails:
            if not rail.spec.rewrites:
                checkers.append(rail)
                continue
            decision = await self._run(rail, text, stage, scope, window)
            if not decision.allowed:
                return decision
            if decision.text is not None and decision.text != text:
                # Spans are positions in this rail's input: the original text for the first
                # rewrite only.
                spans = None if rewritten or normalised else decision.spans
                text, rewritten = decision.text, True
        if len(checkers) == 1:
            decision = await self._run(checkers[0], text, stage, scope, window)
            if not decision.allowed:
                return decision
            if decision.metadata and not rewritten:
                return decision  # a lone rail's pass keeps its facts (e.g. a score)
        elif checkers:
            tasks = [
                asyncio.ensure_future(self._run(r, text, stage, scope, window)) for r in checkers
            ]
            try:
                for next_done in asyncio.as_completed(tasks):
                    decision = await next_done
                    if not decision.allowed:
                        return decision
            finally:
                for task in tasks:
                    task.cancel()
                if scope.callbacks is not None:
                    # Cancelled rails report it; those events belong inside the guarded run.
                    await asyncio.wait(tasks)
        return Decision(allowed=True, text=text, spans=spans) if rewritten else PASS

    async def _run(
        self, rail: Rail, text: str, stage: Stage, scope: CallScope, window: int | None
    ) -> Decision:
        if scope.callbacks is None:
            return await self._call(rail, text, stage, scope, None, window)
        return await self._observed(rail, text, stage, scope, window, scope.callbacks)

    async def _observed(
        self,
        rail: Rail,
        text: str,
        stage: Stage,
        scope: CallScope,
        window: int | None,
        callbacks: AsyncCallbackManager,
    ) -> Decision:
        """``_run`` while someone listens: a child run tagged with the rail name, and custom
        events with timings (no text) on the guarded run."""
        callbacks = rail_manager(callbacks, rail.flow, stage, window)
        events = RailEvents(callbacks, scope.run_id, rail.flow, stage, window)
        await events.start()
        run = await callbacks.on_chain_start(None, {"text": text, "stage": stage}, name=rail.flow)
        try:
            decision = await self._call(rail, text, stage, scope, run, window)
        except BaseException as exc:
            await run.on_chain_error(exc)
            if isinstance(exc, asyncio.CancelledError):
                await events.cancelled()
            raise
        await run.on_chain_end(
            {
                "allowed": decision.allowed,
                "reason": decision.reason,
                "rewrote": decision.text is not None,
                # Figures only (a score, who decided a cascade), never text.
                **({"metadata": dict(decision.metadata)} if decision.metadata else {}),
            }
        )
        await events.end(decision)
        return decision

    async def _call(
        self, rail: Rail, text: str, stage: Stage, scope: CallScope, run: Any, window: int | None
    ) -> Decision:
        decision = await self._invoke(rail, text, stage, scope, run)
        judge = rail.escalate
        if rail.cascade is None or judge is None or decision.kind == "internal_error":
            return decision
        if run is not None:
            # The judge's run (and its LLM calls) nest under the cascade's run.
            manager = run.get_child()
            manager.add_metadata({"guardrails_escalated_from": rail.flow})
            scope = replace(scope, callbacks=manager)
        return await rail.cascade.decide(
            rail.flow,
            rail.refusal,
            decision,
            lambda: self._run(judge, text, stage, scope, window),
            lambda why: self._failed(rail, why),
            Decision,
        )

    async def _invoke(
        self, rail: Rail, text: str, stage: Stage, scope: CallScope, run: Any
    ) -> Decision:
        spec = rail.spec
        run_config: RunnableConfig = {"callbacks": run.get_child() if run is not None else None}
        kwargs = self._inject(rail, text, stage, scope, run_config) if spec.wants else {}
        try:
            if spec.is_async:
                result = await asyncio.wait_for(spec.fn(**kwargs), rail.timeout)
            elif spec.inline:
                result = spec.fn(**kwargs)
                if inspect.isawaitable(result):
                    # An inline rail that needs longer than it may hold the loop hands off.
                    result = await asyncio.wait_for(result, rail.timeout)
            else:
                # The package's own bounded pool: a hung rail cannot starve asyncio's default
                # executor (config loading, other libraries) — see rail_executor.
                from langchain_guardrails.rails.executor import run_sync_rail

                result = await asyncio.wait_for(run_sync_rail(spec.fn, **kwargs), rail.timeout)
        except TimeoutError:
            logger.warning("rail %r (%s) timed out after %gs", rail.flow, stage, rail.timeout)
            return self._failed(rail, f"timed out after {rail.timeout:g}s")
        except Exception as exc:
            # Exceptions often quote their input (window text): the type and the frames go to
            # the log, never the messages.
            log_failure(
                logger,
                logging.WARNING,
                "rail %r (%s) failed: %s",
                rail.flow,
                stage,
                type(exc).__name__,
                error=exc,
                rail=rail.flow,
                stage=stage,
            )
            return self._failed(rail, f"failed: {type(exc).__name__}")
        return self._decide(rail, result)

    def _inject(
        self, rail: Rail, text: str, stage: Stage, scope: CallScope, run_config: RunnableConfig
    ) -> dict[str, Any]:
        values: dict[str, Callable[[], Any]] = {
            "text": lambda: text,
            "user_message": lambda: scope.user_message,
            "bot_message": lambda: text if stage == "output" else None,
            "messages": lambda: scope.messages,
            "llm": lambda: scope.bind_llm(self._llm, run_config) if self._llm else None,
            "llms": lambda: {k: scope.bind_llm(v, run_config) for k, v in self._llms().items()},
            "config": lambda: self.config,
            "params": lambda: dict(rail.params),
            "stage": lambda: stage,
            "tool_call": lambda: dict(scope.tool_call) if scope.tool_call is not None else None,
            "run_config": lambda: run_config,
            "timeout": lambda: rail.timeout,
        }
        return {name: values[name]() for name in rail.spec.wants}

    def _decide(self, rail: Rail, result: Any) -> Decision:
        if result is True:
            return PASS
        if result is False:
            return Decision(allowed=False, rail=rail.flow, refusal=rail.refusal)
        if isinstance(result, RailResult):
            if result.text is not None and not rail.spec.rewrites:
                return self._failed(
                    rail,
                    "returned a rewrite but is not declared @action(rewrites=True)",
                )
            if result.allowed:
                if result.text is None:
                    # A pass keeps its figures (a score, say): a cascade decides on them.
                    return (
                        Decision(allowed=True, metadata=result.metadata)
                        if result.metadata
                        else PASS
                    )
                spans = tuple(result.spans) if result.spans is not None else None
                return Decision(allowed=True, text=result.text, spans=spans)
            return Decision(
                allowed=False,
                rail=rail.flow,
                reason=result.reason,
                refusal=rail.refusal or result.refusal,
                metadata=result.metadata,
            )
        return self._failed(rail, f"returned {type(result).__name__}; expected bool or RailResult")

    @staticmethod
    def _failed(rail: Rail, why: str) -> Decision:
        if rail.on_error == "allow":
            # Allowed, but observers see that the rail failed.
            return Decision(allowed=True, kind="internal_error")
        return Decision(
            allowed=False,
            rail=rail.flow,
            reason=f"rail {rail.flow!r} {why}",
            kind="internal_error",
            refusal=rail.refusal,
        )


def _side(name: str) -> Literal["input", "output"]:
    """The side a built-in rail works on, from its name (``... input`` / ``... output``)."""
    return "input" if name.endswith("input") or name.startswith("jailbreak") else "output"


def _check_builtin_stage(name: str, stage: Stage) -> None:
    """Tool stages take the built-in rails of their side, except those that cannot work on a
    tool call or result."""
    family = STAGE_FAMILY[stage]
    if stage == family or (name not in _NOT_FOR_TOOLS and _side(name) == family):
        return
    allowed = sorted(n for n in BUILTIN_RAILS if n not in _NOT_FOR_TOOLS and _side(n) == family)
    raise ConfigError(
        f"rails.{stage}.flows: built-in rail {name!r} cannot run on "
        f"{'tool calls' if stage == 'tool_output' else 'tool results'}; built-in rails "
        f"for this stage: {', '.join(allowed)} (or any registered action)"
    )


Check = Callable[[str, int], Awaitable[Decision]]
"""Checks one output window: ``(window_text, window_index) -> Decision``."""
