"""What ``Guardrails(llm=...)`` accepts, taken apart: steps before the model, the model, and
steps after it.

A guard needs the chat model's *message stream*: that is the only place where output can be
checked before it is released. So a chain is split around its model: the steps before it
(a prompt) run first and give the messages the input rails check; the steps after it (the parser
of ``with_structured_output``) run on released output only, and never on a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseLanguageModel
from langchain_core.runnables import (
    Runnable,
    RunnableBinding,
    RunnableSequence,
    RunnableWithFallbacks,
)

ACCEPTED = (
    "a chat model or LLM, a binding of one (model.bind(...), model.bind_tools(...)), "
    "model.with_fallbacks(...), a RunnableSequence with one chat model in it (prompt | model, "
    "model | parser), or model.with_structured_output(...) (include_raw=False)"
)


@dataclass(frozen=True, slots=True)
class LLMParts:
    """``llm`` split around its model."""

    model: Runnable[Any, Any]
    """The chat model (or a binding / fallbacks of one) whose stream is guarded."""
    before: Runnable[Any, Any] | None = None
    """Steps that turn the caller's input into the model's input (e.g. a prompt)."""
    after: Runnable[Any, Any] | None = None
    """Steps applied to the released answer (e.g. a structured-output parser)."""


def is_model(runnable: Any) -> bool:
    """A language model, or a binding / fallbacks whose innermost runnable is one."""
    while True:
        if isinstance(runnable, BaseLanguageModel):
            return True
        if isinstance(runnable, RunnableBinding):
            runnable = runnable.bound
        elif isinstance(runnable, RunnableWithFallbacks):
            runnable = runnable.runnable
        else:
            # Test doubles and adapters that only stream message chunks.
            return bool(getattr(runnable, "guardrails_model", False))


def chat_model_of(runnable: Runnable[Any, Any]) -> Runnable[Any, Any]:
    """The innermost model of a binding / fallbacks chain."""
    while True:
        if isinstance(runnable, RunnableBinding):
            runnable = runnable.bound
        elif isinstance(runnable, RunnableWithFallbacks):
            runnable = runnable.runnable
        else:
            return runnable


def split_llm(llm: Any) -> LLMParts:
    """Split ``llm`` around its model, or raise a ``TypeError`` naming what is accepted."""
    if is_model(llm):
        return LLMParts(model=llm)
    if isinstance(llm, RunnableSequence):
        steps = llm.steps
        found = [i for i, step in enumerate(steps) if is_model(step)]
        if len(found) == 1:
            at = found[0]
            return LLMParts(
                model=steps[at],
                before=_chain(steps[:at]),
                after=_chain(steps[at + 1 :]),
            )
        if len(found) > 1:
            raise TypeError(
                f"Guardrails(llm=...) got a chain with {len(found)} models; guard each model "
                "on its own (the guard needs one model stream)"
            )
    raise TypeError(f"Guardrails(llm=...) accepts {ACCEPTED}; got {type(llm).__name__}")


def rebind(llm: Runnable[Any, Any], make: Any) -> Runnable[Any, Any]:
    """Apply ``make(model)`` (e.g. ``bind_tools``) to the innermost model of ``llm`` and keep the
    bindings around it (their kwargs and config)."""
    if isinstance(llm, RunnableBinding):
        inner = rebind(llm.bound, make)
        if isinstance(inner, RunnableBinding) and not isinstance(llm.bound, RunnableBinding):
            # ``make`` returned a binding of the model: merge its kwargs into ours.
            return llm.__class__(
                bound=inner.bound,
                kwargs={**llm.kwargs, **inner.kwargs},
                config={**llm.config, **inner.config},
                config_factories=llm.config_factories,
                custom_input_type=llm.custom_input_type,
                custom_output_type=llm.custom_output_type,
            )
        return llm.__class__(
            bound=inner,
            kwargs=llm.kwargs,
            config=llm.config,
            config_factories=llm.config_factories,
            custom_input_type=llm.custom_input_type,
            custom_output_type=llm.custom_output_type,
        )
    if isinstance(llm, RunnableWithFallbacks):
        return llm.__class__(
            runnable=rebind(llm.runnable, make),
            fallbacks=[rebind(f, make) for f in llm.fallbacks],
            exceptions_to_handle=llm.exceptions_to_handle,
            exception_key=llm.exception_key,
        )
    return make(llm)  # type: ignore[no-any-return]


def _chain(steps: list[Runnable[Any, Any]]) -> Runnable[Any, Any] | None:
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    return RunnableSequence(*steps)


__all__ = ["ACCEPTED", "LLMParts", "chat_model_of", "is_model", "rebind", "split_llm"]
