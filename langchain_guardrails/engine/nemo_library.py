"""NeMo Guardrails' rail library, rail by rail: what runs here, and why the rest is refused.

:data:`SURVEY` is the single source of the migration guide's table, of the refusals a config
gets when it names a NeMo rail this package does not run (the error names the rail and says
why), and of ``langchain-guardrails check --nemo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from langchain_guardrails.errors import ConfigError

Status = Literal["runs", "refused"]


@dataclass(frozen=True, slots=True)
class NemoRail:
    """One NeMo library rail (a family of flows)."""

    family: str
    """NeMo's library folder (``content_safety``, ``gliner``, ...)."""
    flows: tuple[str, ...]
    """Its input/output flow names as written in ``config.yml`` (without ``$`` parameters)."""
    status: Status
    note: str
    """How it runs here, or why it is refused and what to use instead."""


_SERVICE = (
    "calls a third-party service that has no counterpart here; register an @action that "
    "calls the service (see 'Rails and actions')"
)

SURVEY: tuple[NemoRail, ...] = (
    NemoRail(
        "self_check",
        ("self check input", "self check output", "self check facts", "self check hallucination"),
        "runs",
        "same prompts (prompts.yml, Jinja), same Yes/No verdicts",
    ),
    NemoRail(
        "content_safety",
        ("content safety check input", "content safety check output"),
        "runs",
        "$model=<type>, NeMo's output parsers, rails.config.content_safety.reasoning and "
        "multilingual refusals (multilingual extra)",
    ),
    NemoRail(
        "llama_guard",
        ("llama guard check input", "llama guard check output"),
        "runs",
        "model type llama_guard (or $model)",
    ),
    NemoRail(
        "sensitive_data_detection",
        (
            "detect sensitive data on input",
            "detect sensitive data on output",
            "mask sensitive data on input",
            "mask sensitive data on output",
        ),
        "runs",
        "built-in recognizers; PERSON, LOCATION and other Presidio entities with the presidio "
        "extra and your NLP model (nlp_engine)",
    ),
    NemoRail(
        "jailbreak_detection",
        ("jailbreak detection heuristics", "jailbreak detection model"),
        "runs",
        "heuristics in-process (hf extra, model_path) or via server_endpoint; model via "
        "nim_base_url or server_endpoint; fails closed when the server fails",
    ),
    NemoRail(
        "sensitive_data_detection (retrieval)",
        ("detect sensitive data on retrieval", "mask sensitive data on retrieval"),
        "refused",
        "retrieval rails are not supported (only input, output and tool rails are)",
    ),
    NemoRail(
        "topic_safety",
        ("topic safety check input",),
        "runs",
        "$model=<type>; the task prompt is the system message, as in NeMo; off-topic blocks",
    ),
    NemoRail(
        "gliner",
        (
            "gliner detect pii on input",
            "gliner detect pii on output",
            "gliner mask pii on input",
            "gliner mask pii on output",
        ),
        "runs",
        "rails.config.gliner: a GLiNER NIM or server, NeMo's request format and [LABEL] masks; "
        "fails closed when the server fails",
    ),
    NemoRail(
        "huggingface_detector",
        (
            "huggingface detector check input",
            "huggingface detector check output",
            "huggingface detector check tool input",
            "huggingface detector check tool output",
        ),
        "runs",
        "rails.config.huggingface_detector ($hf_model=<model_repo>): the local classifier's "
        "top class against blocked_classes (hf extra; model_path or the local Hugging Face "
        "cache, nothing is downloaded)",
    ),
    NemoRail(
        "gliner (retrieval)",
        ("gliner detect pii on retrieval", "gliner mask pii on retrieval"),
        "refused",
        "retrieval rails are not supported (only input, output and tool rails are)",
    ),
    NemoRail(
        "injection_detection",
        ("injection detection",),
        "refused",
        "needs YARA rules and the yara-python engine; use `regex check input|output` patterns",
    ),
    NemoRail(
        "hallucination",
        ("hallucination warning",),
        "refused",
        "a dialog rail (adds a bot message); `self check hallucination` blocks instead",
    ),
    NemoRail(
        "factchecking",
        ("alignscore check facts",),
        "refused",
        "needs an AlignScore server; `self check facts` checks facts with an LLM",
    ),
    NemoRail(
        "third-party services",
        (
            "activefence moderation on input",
            "activefence moderation on output",
            "autoalign check input",
            "autoalign check output",
            "autoalign groundedness output",
            "autoalign factcheck output",
            "cleanlab trustworthiness",
            "fiddler user safety",
            "fiddler bot safety",
            "fiddler bot faithfulness",
            "guardrailsai check input",
            "guardrailsai check output",
            "pangea ai guard input",
            "pangea ai guard output",
            "patronus lynx check output hallucination",
            "patronus api check output",
            "detect pii on input",
            "detect pii on output",
            "mask pii on input",
            "mask pii on output",
            "protect prompt",
            "protect response",
            "trend ai guard input",
            "trend ai guard output",
            "ai defense inspect prompt",
            "ai defense inspect response",
            "clavata check for",
            "gcpnlp moderation",
        ),
        "refused",
        _SERVICE,
    ),
)
"""NeMo Guardrails' input/output rail library (surveyed on its 2026-02 sources)."""

BY_FLOW: dict[str, NemoRail] = {flow: rail for rail in SURVEY for flow in rail.flows}
"""Flow name -> its survey entry."""


def refusal_message(flow: str) -> str:
    """The error a config naming the refused NeMo rail ``flow`` gets."""
    rail = BY_FLOW[flow]
    return f"{flow!r} is NeMo Guardrails' {rail.family} rail, not supported here: {rail.note}"


def refuse_unknown_nemo_flow(name: str, stage: str) -> None:
    """Raise the clear refusal when ``name`` (not a rail here) is one of NeMo's rails."""
    rail = BY_FLOW.get(name)
    if rail is not None and rail.status == "refused":
        raise ConfigError(f"rails.{stage}.flows: {refusal_message(name)}")


__all__ = ["BY_FLOW", "SURVEY", "NemoRail", "refusal_message", "refuse_unknown_nemo_flow"]
