"""One guarded call's pipeline, model to caller: input rails (or a speculative start), the
wrapped model's stream, the tool-call gate, the output windows, and the refusal on a block.

:class:`GuardPipeline` is what a :class:`~langchain_guardrails.guard.chat_model.Guardrails` holds
for its calls (config, engine, window plan, model); it keeps no per-call state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManager, AsyncCallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    patch_config,
)

from langchain_guardrails.config.instructions import apply_instructions
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.engine.canonical import check_json_text
from langchain_guardrails.engine.rail_engine import CallScope, Decision, RailEngine, Stage
from langchain_guardrails.engine.results import (
    RailCheck,
    refusal_chunks,
    refusal_text,
    violation_metadata,
)
from langchain_guardrails.guard.callbacks import (
    NOSTREAM,
    binder,
    child_of,
    rail_callbacks,
    replace_scope,
    scheduler,
)
from langchain_guardrails.llm.callback_relay import RelayPolicy, hooks_suppressed, relay_manager
from langchain_guardrails.llm.direct_stream import direct_astream
from langchain_guardrails.llm.messages import (
    last_user_text,
    replace_content,
    replace_last_user_text,
    to_messages,
    tool_results,
)
from langchain_guardrails.llm.model_stream import first_step_without_hooks, model_name, text_chunks
from langchain_guardrails.llm.threads import stream_in_threads
from langchain_guardrails.observability.usage import estimate_prompt_tokens
from langchain_guardrails.streaming.chunks import StreamTally, passthrough
from langchain_guardrails.streaming.reasoning import strip_reasoning
from langchain_guardrails.streaming.speculative import (
    InputBlocked,
    InputOutcome,
    UnitCount,
    after_input,
    counted,
)
from langchain_guardrails.streaming.tool_calls import (
    CheckCall,
    ToolCallBlocked,
    call_text,
    gate_tool_calls,
)
from langchain_guardrails.streaming.window_events import StreamEvents
from langchain_guardrails.streaming.windows import WindowPlan, WindowStream


@dataclass(frozen=True, slots=True)
class GuardPipeline:
    """The rails and the model of one guard; each call streams through :meth:`stream`."""

    config: RailsConfig
    engine: RailEngine
    plan: WindowPlan | None
    """Output windows (``None``: no output rails, chunks pass straight through)."""
    model: Runnable[Any, Any]
    """The wrapped model, prepared to report stream usage."""
    structured: bool
    """The answer is structured output: its tool call goes through the output rails too."""

    async def check_stage(
        self,
        input: Any,
        output: str | None,
        stage: Stage | None,
        tool_call: Mapping[str, Any] | None,
        config: RunnableConfig | None,
        *,
        sync: bool,
    ) -> RailCheck:
        """Only one stage's rails, without the model (``Guardrails.acheck``)."""
        messages = to_messages(input)
        manager = get_async_callback_manager_for_config(ensure_config(config))
        stage = stage or ("input" if output is None else "output")
        engine = self.engine
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
            callbacks=rail_callbacks(manager, stage) if manager.handlers else None,
            bind_llm=binder(sync),
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

    async def stream(
        self,
        messages: list[BaseMessage],
        config: RunnableConfig,
        run: AsyncCallbackManagerForLLMRun,
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        sync_model: bool,
    ) -> AsyncGenerator[AIMessageChunk, None]:
        """The released chunks of one call; the last one carries usage and the verdict."""
        engine, plan = self.engine, self.plan
        child = child_of(run)
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
        tally = StreamTally(model_name(self.model))

        input_check: asyncio.Future[InputOutcome] | None = None
        if speculative:
            input_check = asyncio.ensure_future(
                self.input_outcome(messages, child if listening else None, run, sync_model)
            )
        elif checks_input:
            blocked, messages = await self.check_input(
                messages, child if listening else None, run, sync_model
            )
            if blocked is not None:
                yield self.refusal(blocked[0], blocked[1], tally)[0]  # nothing released yet
                return
        if self.config.instructions:
            messages = apply_instructions(self.config, messages)
        tally.estimate_input_tokens = partial(estimate_prompt_tokens, self.model, messages)

        gate_calls = bool(engine.tool_output_rails) or (
            self.structured and bool(engine.output_rails)
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
                self.model, messages, kwargs, relays, [NOSTREAM], f"lc_run--{run.run_id}"
            )
        if direct is not None:
            source = direct
        elif sync_model:
            source = stream_in_threads(self.model, messages, model_config, kwargs)
        else:
            source = self.model.astream(messages, model_config, **kwargs)
        # Always: even with no handler of ours, the caller's context config may hold some.
        source = first_step_without_hooks(source)
        if isinstance(self.model, BaseLLM):
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
            bind_llm=binder(sync_model),
            run_id=run.run_id,
        )
        if gate_calls:
            # A tool call is unreleased until it passed, in both modes: rail inputs redacted.
            tool_scope = replace_scope(
                scope,
                rail_callbacks(child, "tool_output", True, run.run_id) if listening else None,
            )
            source = gate_tool_calls(source, self.tool_call_check(tool_scope))

        observer: StreamEvents | None = None
        if plan is None:
            released = passthrough(source, tally)
        else:
            rail_scope = replace_scope(
                scope, rail_callbacks(child, "output", redact, run.run_id) if listening else None
            )
            observer = StreamEvents(child, run.run_id, plan) if listening else None
            if observer is not None and input_check is not None:
                observer.hold()
            schedule = scheduler(engine, rail_scope)
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
            for chunk in self.refusal(*block, tally, after_text=text_out):
                yield chunk
            return
        yield AIMessageChunk(
            content=[] if tally.list_content else "",
            usage_metadata=tally.usage,
            response_metadata={"guardrails": {"blocked": False, "windows": tally.windows}},
            chunk_position="last",
        )

    def tool_call_check(self, scope: CallScope) -> CheckCall:
        engine = self.engine
        rails = engine.tool_output_rails
        structured = engine.output_rails if self.structured else ()

        async def check(text: str, call: Mapping[str, Any]) -> tuple[Decision, Stage]:
            with hooks_suppressed():
                decision = await engine.check(rails, text, "tool_output", scope, tool_call=call)
                if decision.allowed and structured:
                    # A structured answer is the answer: the output rails check it too.
                    decision = await engine.check(structured, text, "output", scope, tool_call=call)
                    return decision, "output"
            return decision, "tool_output"

        return check

    async def input_outcome(
        self,
        messages: list[BaseMessage],
        child: AsyncCallbackManager | None,
        run: AsyncCallbackManagerForLLMRun,
        sync_model: bool,
    ) -> InputOutcome:
        """The input check of a speculative call (its rails cannot rewrite: see
        :func:`~langchain_guardrails.streaming.speculative.refuse_rewriting_input`)."""
        blocked, _ = await self.check_input(messages, child, run, sync_model)
        return blocked

    async def check_input(
        self,
        messages: list[BaseMessage],
        child: AsyncCallbackManager | None,
        run: AsyncCallbackManagerForLLMRun,
        sync_model: bool,
    ) -> tuple[tuple[Decision, Stage] | None, list[BaseMessage]]:
        """Input rails on the last user message and ``rails.tool_input`` on every tool result,
        all concurrently; the first block (in message order) wins, rewrites are applied."""
        engine = self.engine
        scope = CallScope(
            messages=messages,
            user_message=last_user_text(messages),
            callbacks=None,
            bind_llm=binder(sync_model),
            run_id=run.run_id,
        )
        jobs: list[tuple[Stage, int | None, Any]] = []
        if engine.input_rails:
            input_scope = replace_scope(scope, rail_callbacks(child, "input") if child else None)
            jobs.append(
                (
                    "input",
                    None,
                    engine.check(engine.input_rails, scope.user_message, "input", input_scope),
                )
            )
        if engine.tool_input_rails:
            tool_scope = replace_scope(
                scope, rail_callbacks(child, "tool_input") if child else None
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

    def refusal(
        self, decision: Decision, stage: Stage, tally: StreamTally, after_text: bool = False
    ) -> list[AIMessageChunk]:
        return refusal_chunks(self.config, decision, stage, tally.usage, after_text=after_text)
