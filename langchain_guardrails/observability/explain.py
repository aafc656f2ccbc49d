"""What one guarded call did (LLM calls, activated rails, stats) and the options asking for it:
NeMo Guardrails' log and option types.

These are plain records, built per call by
:class:`~langchain_guardrails.observability.callback_handler.GuardrailsCallbackHandler` and
returned by ``LLMRails.generate(..., options={"log": {...}})`` and ``LLMRails.explain()``. They
never hold text a user could not see: in hold-back mode the prompts and completions of calls that
saw unreleased text are redacted, as for every other observer.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

RailDecision = Literal["passed", "modified", "blocked", "error", "cancelled"]


class LLMCallInfo(BaseModel):
    """One LLM call: the main model (task ``general``) or one made by a rail."""

    task: str
    """``general`` for the guarded model; for a rail, its action name with ``_`` for spaces
    (``self check input`` -> ``self_check_input``, as NeMo names its tasks)."""
    rail: str | None = None
    """The flow name of the rail that made the call; None for the guarded model."""
    llm_model_name: str | None = None
    """The model name the provider reported (or the one the model was configured with)."""
    prompt: str | None = None
    """The prompt as text (one line per message); redacted when it held unreleased text."""
    completion: str | None = None
    """The completion; redacted when it was not released."""
    duration: float | None = None
    """Seconds from the call's start to its end."""
    started_at: float | None = None
    """``time.perf_counter()`` at the start."""
    finished_at: float | None = None
    """``time.perf_counter()`` at the end."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    stopped: bool = False
    """True when guardrails closed the stream early (a block); the usage is what was used."""
    id: str | None = None
    """The LangChain run id of the call."""

    @property
    def model_name(self) -> str | None:
        """Alias of :attr:`llm_model_name`."""
        return self.llm_model_name


class ActivatedRail(BaseModel):
    """One run of one rail on one text (an input, or one output window)."""

    rail: str
    """The flow name, as written in ``config.yml``."""
    stage: Literal["input", "output"]
    decision: RailDecision
    """``passed``, ``modified`` (rewrote the text), ``blocked``, ``error`` (the rail raised
    or timed out; see :attr:`stop`) or ``cancelled`` (another rail decided first)."""
    duration: float
    """Seconds the rail took."""
    started_at: float
    finished_at: float
    window: int | None = None
    """Index of the output window checked (0-based); None for input rails."""
    stop: bool = False
    """True when this rail's decision stopped the call (a block, or a fail-closed error)."""

    @property
    def name(self) -> str:
        """NeMo's name for :attr:`rail`."""
        return self.rail

    @property
    def type(self) -> str:
        """NeMo's name for :attr:`stage`."""
        return self.stage


class GenerationStats(BaseModel):
    """Totals of one call."""

    input_rails_duration: float | None = None
    """Wall time of the input rails (rails of a stage run concurrently)."""
    output_rails_duration: float | None = None
    """Sum over output windows of each window's rail wall time (overlaps generation)."""
    total_duration: float | None = None
    llm_calls_duration: float | None = None
    llm_calls_count: int = 0
    llm_calls_total_prompt_tokens: int = 0
    llm_calls_total_completion_tokens: int = 0
    llm_calls_total_tokens: int = 0


class GenerationLog(BaseModel):
    """``GenerationResponse.log``: what was asked for in ``options["log"]``."""

    activated_rails: list[ActivatedRail] = Field(default_factory=list)
    llm_calls: list[LLMCallInfo] | None = None
    internal_events: list[dict[str, Any]] | None = None
    """The guardrails custom events of the call (``{"type": name, **payload}``)."""
    stats: GenerationStats = Field(default_factory=GenerationStats)

    def print_summary(self) -> None:
        """Print the stats and the activated rails.

        Example:
            .. code-block:: python

                options = {"log": {"activated_rails": True}}
                response = rails.generate(messages=history, options=options)
                response.log.print_summary()
        """
        stats = self.stats
        print(f"# General stats\n\n- Total time: {stats.total_duration or 0:.2f}s")
        if stats.input_rails_duration is not None:
            print(f"  - [{stats.input_rails_duration:.2f}s] INPUT Rails")
        if stats.output_rails_duration is not None:
            print(f"  - [{stats.output_rails_duration:.2f}s] OUTPUT Rails")
        print(
            f"- {stats.llm_calls_count} LLM calls, {stats.llm_calls_duration or 0:.2f}s total "
            f"duration, {stats.llm_calls_total_prompt_tokens} total prompt tokens, "
            f"{stats.llm_calls_total_completion_tokens} total completion tokens, "
            f"{stats.llm_calls_total_tokens} total tokens.\n"
        )
        for rail in self.activated_rails:
            where = f" window {rail.window}" if rail.window is not None else ""
            print(
                f"- [{rail.duration:.2f}s] {rail.stage.upper()} {rail.rail}{where}: {rail.decision}"
            )


class ExplainInfo(BaseModel):
    """``LLMRails.explain()``: the LLM calls of the last call made in the current task."""

    llm_calls: list[LLMCallInfo] = Field(default_factory=list)
    activated_rails: list[ActivatedRail] = Field(default_factory=list)
    colang_history: str | None = None
    """Always None: there are no Colang flows here (kept for NeMo compatibility)."""

    def print_llm_calls_summary(self) -> None:
        """Print one summary line, then one line per LLM call.

        Example:
            .. code-block:: python

                rails.explain().print_llm_calls_summary()
                # Summary: 2 LLM call(s) took 0.84 seconds and used 310 tokens.
                #
                # 1. Task `self_check_input` took 0.31 seconds and used 180 tokens.
                # 2. Task `general` took 0.53 seconds and used 130 tokens.
        """
        print(llm_calls_summary(self.llm_calls))


def llm_calls_summary(calls: list[LLMCallInfo]) -> str:
    """The text :meth:`ExplainInfo.print_llm_calls_summary` prints."""
    if not calls:
        return "No LLM calls were made."
    duration = sum(c.duration or 0.0 for c in calls)
    tokens = sum(c.total_tokens or 0 for c in calls)
    lines = [
        f"Summary: {len(calls)} LLM call(s) took {duration:.2f} seconds and used {tokens} tokens.",
        "",
    ]
    for number, call in enumerate(calls, start=1):
        lines.append(
            f"{number}. Task `{call.task}` took {call.duration or 0.0:.2f} seconds and used "
            f"{call.total_tokens or 0} tokens."
        )
    return "\n".join(lines)


class GenerationResponse(BaseModel):
    """What ``LLMRails.generate(..., options=...)`` returns."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    response: str | list[dict[str, Any]]
    """The answer: a string for ``prompt=``, ``[{"role": "assistant", "content": ...}]`` for
    ``messages=``."""
    log: GenerationLog | None = None
    """Set when ``options["log"]`` asked for anything."""


class LogOptions(BaseModel):
    """``options["log"]``: what the response's ``log`` holds."""

    model_config = ConfigDict(extra="forbid")

    activated_rails: bool = False
    llm_calls: bool = False
    internal_events: bool = False


class GenerationOptions(BaseModel):
    """``options`` of ``generate`` / ``generate_async`` / ``stream_async``."""

    model_config = ConfigDict(extra="forbid")

    log: LogOptions = Field(default_factory=LogOptions)
    llm_params: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments for the main model call (e.g. ``temperature``)."""


def parse_options(options: dict[str, Any] | GenerationOptions | None) -> GenerationOptions:
    """``options`` as given to ``LLMRails``; unknown keys are errors naming the known ones.

    Example:
        .. code-block:: python

            parse_options({"log": {"llm_calls": True}}).log.llm_calls  # True
    """
    if options is None:
        return GenerationOptions()
    if isinstance(options, GenerationOptions):
        return options
    try:
        return GenerationOptions.model_validate(options)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in ("options", *error["loc"]))
            if error["type"] == "extra_forbidden":
                model: type[BaseModel] = (
                    LogOptions if error["loc"][0] == "log" else GenerationOptions
                )
                problems.append(f"{where}: unknown option (known: {', '.join(model.model_fields)})")
            else:
                problems.append(f"{where}: {error['msg']}")
        raise ValueError("; ".join(problems)) from exc


__all__ = [
    "ActivatedRail",
    "ExplainInfo",
    "GenerationLog",
    "GenerationOptions",
    "GenerationResponse",
    "GenerationStats",
    "LLMCallInfo",
    "LogOptions",
    "RailDecision",
    "llm_calls_summary",
    "parse_options",
]
