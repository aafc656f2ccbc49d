"""What a cascade costs against its judge alone: the share of examples escalated, and the LLM
calls and tokens it saved.

Each check is counted by one :class:`CheckTally` (its tokens, its LLM calls, and whether a
cascade escalated: the judge's run carries ``guardrails_escalated_from`` in its metadata). The
runner also measures each cascade's judge alone, on the same examples, as the baseline.

Example:
    .. code-block:: python

        cascade_judges(["toy scorer $escalate=self check input $low=0.2 $high=0.8"])
        # {"toy scorer $escalate=self check input $low=0.2 $high=0.8": "self check input"}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from langchain_core.callbacks import UsageMetadataCallbackHandler

from langchain_guardrails.config.rails_config import FlowSpec
from langchain_guardrails.engine.cascade import split_cascade
from langchain_guardrails.engine.rail_engine import parse_flow
from langchain_guardrails.eval.metrics import ratio


class Counted(Protocol):
    """What a cascade's figures read of one check (the runner's ``Outcome``)."""

    @property
    def escalated(self) -> bool: ...
    @property
    def llm_calls(self) -> int: ...
    @property
    def tokens(self) -> int: ...


JUDGE_ALONE = " (judge alone)"
"""Suffix of the report name of a cascade's judge measured alone."""


class CheckTally(UsageMetadataCallbackHandler):
    """Usage of one check (as its parent), plus its LLM calls and whether it escalated."""

    def __init__(self) -> None:
        super().__init__()
        self.llm_calls = 0
        self.escalated = False

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        """Count a chat model call."""
        self.llm_calls += 1

    def on_llm_start(self, serialized: Any, prompts: Any, **kwargs: Any) -> None:
        """Count a completion model call."""
        self.llm_calls += 1

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        """Note an escalation: a run under a cascade's judge (see ``RailEngine._cascade``)."""
        if "guardrails_escalated_from" in (kwargs.get("metadata") or {}):
            self.escalated = True

    @property
    def tokens(self) -> int:
        """Total tokens of every model call of the check."""
        return sum(u.get("total_tokens", 0) for u in self.usage_metadata.values())


def cascade_judges(flows: Sequence[str | FlowSpec]) -> dict[str, str]:
    """Flow name (as written) -> the judge flow it escalates to, for each cascade of ``flows``."""
    judges = {}
    for entry in flows:
        _, params, spec = parse_flow(entry)
        cascade = split_cascade(spec, params)[1]
        if cascade is not None:
            judges[spec.flow] = cascade.escalate
    return judges


def cascade_figures(
    judge: str, outcomes: Sequence[Counted], alone: Sequence[Counted]
) -> dict[str, Any]:
    """A cascade's escalations and its LLM calls and tokens against its judge alone."""
    escalated = sum(o.escalated for o in outcomes)
    calls = sum(o.llm_calls for o in outcomes)
    judge_calls = sum(o.llm_calls for o in alone)
    tokens = sum(o.tokens for o in outcomes)
    judge_tokens = sum(o.tokens for o in alone)
    return {
        "judge": judge,
        "escalated": escalated,
        "share_escalated": ratio(escalated, len(outcomes)),
        "llm_calls": calls,
        "judge_alone_llm_calls": judge_calls,
        "llm_calls_saved": judge_calls - calls,
        "tokens": tokens,
        "judge_alone_tokens": judge_tokens,
        "tokens_saved": judge_tokens - tokens,
    }


__all__ = ["JUDGE_ALONE", "CheckTally", "Counted", "cascade_figures", "cascade_judges"]
