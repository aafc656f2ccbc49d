"""Run a config's rails over a dataset: per rail and all rails of a stage together.

Every example is checked through :func:`~langchain_guardrails.eval.stages.check_example`
(``Guardrails.acheck``), concurrently up to ``concurrency``; each check gets its own
``UsageMetadataCallbackHandler`` so LLM tokens are counted per check. A rail is measured on a
copy of the config that holds it alone; the caller's config is never changed.

Example:
    .. code-block:: python

        result = await evaluate(RailsConfig.from_path("cfg"), load_dataset("set.jsonl"))
        result.reports[0].confusion.f1
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.eval.cascades import (
    JUDGE_ALONE,
    CheckTally,
    cascade_figures,
    cascade_judges,
)
from langchain_guardrails.eval.dataset import Example
from langchain_guardrails.eval.metrics import Confusion, category_rates, latency_summary
from langchain_guardrails.eval.stages import (
    NOT_SUPPORTED,
    check_example,
    flow_name,
    stage_flows,
    supports_stage,
    with_flows,
)

OVERALL = "(all rails)"
Progress = Callable[[int, int], None]
"""Called with ``(done, total)`` after each check."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the rails did with one example."""

    example: Example
    status: str
    """``passed``, ``modified`` or ``blocked``."""
    rail: str | None
    """The rail that blocked, if any."""
    internal_error: bool
    """The block came from a rail that failed (raised or timed out)."""
    seconds: float
    """Wall time of the check."""
    tokens: int
    """LLM tokens the check used (all models)."""
    llm_calls: int = 0
    """LLM calls the check made (all models)."""
    escalated: bool = False
    """A cascade asked its judge."""

    @property
    def flagged(self) -> bool:
        """Blocked or rewritten: the rails found something."""
        return self.status != "passed"

    @property
    def correct(self) -> bool:
        """The verdict matches the label."""
        return self.flagged == self.example.should_block


@dataclass(frozen=True, slots=True)
class RailReport:
    """Figures of one rail (or of all rails of a stage) over the examples of its stage."""

    stage: str
    rail: str
    outcomes: tuple[Outcome, ...]
    judge: RailReport | None = None
    """For a cascade: its judge measured alone on the same examples (the baseline)."""
    judge_of: str | None = None
    """For a judge measured alone: the cascade it is the baseline of."""

    @property
    def confusion(self) -> Confusion:
        """Confusion matrix of the verdicts against the labels."""
        return Confusion.of(
            [o.example.should_block for o in self.outcomes], [o.flagged for o in self.outcomes]
        )

    @property
    def errors(self) -> int:
        """Checks that blocked because a rail failed."""
        return sum(o.internal_error for o in self.outcomes)

    def wrong(self) -> list[Outcome]:
        """The examples judged against their label, in dataset order."""
        return [o for o in self.outcomes if not o.correct]

    def as_dict(self, show_errors: int | None = 0) -> dict[str, Any]:
        """Every figure, for JSON and the renderers; the first ``show_errors`` wrong examples
        (``None``: all of them, as the HTML report lists them)."""
        tokens = [o.tokens for o in self.outcomes]
        return {
            "stage": self.stage,
            "rail": self.rail,
            "n": len(self.outcomes),
            **self.confusion.as_dict(),
            "rail_errors": self.errors,
            "categories": category_rates(
                [o.example.category for o in self.outcomes],
                [o.example.should_block for o in self.outcomes],
                [o.flagged for o in self.outcomes],
            ),
            "latency": latency_summary([o.seconds for o in self.outcomes]),
            "tokens": {
                "total": sum(tokens),
                "per_check": sum(tokens) / len(tokens) if tokens else None,
            },
            "llm_calls": sum(o.llm_calls for o in self.outcomes),
            "errors": [_wrong(o) for o in self.wrong()[:show_errors]],
            **({"judge_of": self.judge_of} if self.judge_of is not None else {}),
            **(
                {
                    "cascade": cascade_figures(
                        self.judge.rail.removesuffix(JUDGE_ALONE),
                        self.outcomes,
                        self.judge.outcomes,
                    )
                }
                if self.judge is not None
                else {}
            ),
        }


@dataclass(slots=True)
class EvalResult:
    """All reports of one run, plus the stages that could not be measured and why."""

    reports: list[RailReport] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Stage -> why its examples were not checked."""

    def as_dict(self, show_errors: int | None = 0) -> dict[str, Any]:
        """JSON-ready figures; ``show_errors`` as in :meth:`RailReport.as_dict`."""
        return {
            "reports": [r.as_dict(show_errors) for r in self.reports],
            "skipped": dict(self.skipped),
        }


def build_guarded(config: RailsConfig, llm: Runnable[Any, Any] | None = None) -> Any:
    """A ``Guardrails`` for ``config``; a config without a main model gets a silent fake one
    (rails that need the main model then see an empty answer).

    Example:
        .. code-block:: python

            guarded = build_guarded(RailsConfig.from_path("cfg"))
    """
    from langchain_guardrails.guard.chat_model import Guardrails

    if llm is None and config.main_model is None:
        from langchain_guardrails.testing import FakeStreamingChatModel

        llm = FakeStreamingChatModel(text="")
    return Guardrails(llm=llm, config=config)


async def evaluate(
    config: RailsConfig,
    examples: Sequence[Example],
    *,
    llm: Runnable[Any, Any] | None = None,
    concurrency: int = 8,
    progress: Progress | None = None,
) -> EvalResult:
    """Check every example with the rails of its stage, per rail and all together.

    Example:
        .. code-block:: python

            result = await evaluate(config, examples, concurrency=4)
            print(result.as_dict()["reports"][0]["f1"])
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1 (got {concurrency})")
    result = EvalResult()
    # (stage, report names, guarded, examples): a stage with one rail reports it under its own
    # name and as the stage total, from one run.
    plans: list[tuple[str, list[str], Any, list[Example]]] = []
    for stage, items in _by_stage(examples).items():
        flows = stage_flows(config, stage)
        if not flows:
            why = NOT_SUPPORTED if flows is None else f"no rails configured for rails.{stage}"
            result.skipped[stage] = f"{why} ({len(items)} examples not checked)"
            continue
        overall = build_guarded(with_flows(config, stage, flows), llm)
        if not supports_stage(overall, stage):
            result.skipped[stage] = f"{NOT_SUPPORTED} ({len(items)} examples not checked)"
            continue
        if len(flows) == 1:
            plans.append((stage, [flow_name(flows[0]), OVERALL], overall, items))
        else:
            for flow in flows:
                single = build_guarded(with_flows(config, stage, [flow]), llm)
                plans.append((stage, [flow_name(flow)], single, items))
            plans.append((stage, [OVERALL], overall, items))
        # Each cascade's judge is also measured alone: the baseline of the calls it saves.
        for judge in dict.fromkeys(cascade_judges(flows).values()):
            alone = build_guarded(with_flows(config, stage, [judge]), llm)
            plans.append((stage, [judge + JUDGE_ALONE], alone, items))
    total = sum(len(items) for *_, items in plans)
    done = 0
    gate = asyncio.Semaphore(concurrency)

    async def run(guarded: Any, example: Example, count_tokens: bool) -> Outcome:
        nonlocal done
        async with gate:
            outcome = await measure(guarded, example, count_tokens=count_tokens)
        done += 1
        if progress is not None:
            progress(done, total)
        return outcome

    runs: list[Awaitable[list[Outcome]]] = [
        asyncio.gather(*(run(guarded, e, may_call_models(guarded)) for e in items))
        for *_, guarded, items in plans
    ]
    measured = await asyncio.gather(*runs)
    reports = [
        RailReport(stage, name, tuple(outcomes))
        for (stage, names, _, _), outcomes in zip(plans, measured, strict=True)
        for name in names
    ]
    result.reports.extend(_linked(reports, config))
    return result


def _linked(reports: list[RailReport], config: RailsConfig) -> list[RailReport]:
    """Each cascade's report with its judge-alone report, and the judge's with its cascade."""
    found = {(r.stage, r.rail): r for r in reports}
    linked = []
    for report in reports:
        judges = cascade_judges(stage_flows(config, report.stage) or [])
        if report.rail in judges:
            judge = found[(report.stage, judges[report.rail] + JUDGE_ALONE)]
            report = replace(report, judge=judge)
        elif report.rail.endswith(JUDGE_ALONE):
            name = report.rail.removesuffix(JUDGE_ALONE)
            cascades = [flow for flow, j in judges.items() if j == name]
            report = replace(report, judge_of=", ".join(cascades))
        linked.append(report)
    return linked


_MODEL_ACCESS = frozenset({"llm", "llms", "run_config"})


def may_call_models(guarded: Any) -> bool:
    """Whether a rail of ``guarded`` can reach a model (so its checks need a usage handler).

    Listening costs about a millisecond per check, more than a regex rail takes, so rails
    that cannot call a model are timed without a handler (their token count is 0).
    """
    engine = getattr(guarded, "_engine", None)
    if engine is None:
        return True
    rails = [r for name, v in vars(engine).items() if name.endswith("_rails") for r in v]
    # A cascade is always counted: its escalations are seen by the check's handler.
    return any(rail.escalate is not None or rail.spec.wants & _MODEL_ACCESS for rail in rails)


async def measure(guarded: Any, example: Example, *, count_tokens: bool = True) -> Outcome:
    """Check one example and time it; tokens, LLM calls and escalations come from a handler
    of this check only."""
    tally = CheckTally()
    started = time.perf_counter()
    config: RunnableConfig = {"callbacks": [tally]} if count_tokens else {}
    checked = await check_example(guarded, example, config)
    seconds = time.perf_counter() - started
    return Outcome(
        example=example,
        status=checked.status,
        rail=checked.rail,
        internal_error=checked.metadata.get("type") == "internal_error",
        seconds=seconds,
        tokens=tally.tokens,
        llm_calls=tally.llm_calls,
        escalated=tally.escalated,
    )


def _by_stage(examples: Sequence[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(example.stage, []).append(example)
    return groups


def _wrong(outcome: Outcome) -> dict[str, Any]:
    example = outcome.example
    return {
        "line": example.line,
        "id": example.id,
        "label": example.label,
        "got": outcome.status,
        "rail": outcome.rail,
        "category": example.category,
        "text": example.text,
    }


__all__ = [
    "OVERALL",
    "EvalResult",
    "Outcome",
    "Progress",
    "RailReport",
    "build_guarded",
    "evaluate",
]
