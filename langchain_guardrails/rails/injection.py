"""``prompt injection check input|output``: the shipped prompt-injection model, offline.

Nothing is downloaded: the weights ship in the package
(:mod:`~langchain_guardrails.rails.injection_model`). The rail works in ``rails.input``, in
``rails.tool_input`` (instructions planted in tool results and documents) and, as ``... output``,
per window of output rails. Every verdict carries ``{"score", "threshold"}`` in its metadata, on
a pass as on a block, so a cascade can decide from the score.

Settings (``rails.config.prompt_injection`` or, per flow, ``$threshold=`` / ``$target_fpr=``,
which win): ``threshold`` (block when the score is at least this), or ``target_fpr`` (the
threshold whose false-positive rate on the shipped validation split is at most this).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from langchain_guardrails.config.actions import ActionSpec, RailResult, build_spec
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.rails.injection_model import InjectionModel, shipped_model

Stage = Literal["input", "output"]
Factory = Callable[[RailsConfig, Mapping[str, str]], ActionSpec]
PARAMS = ("target_fpr", "threshold")


def resolve_threshold(
    model: InjectionModel, threshold: float | None, target_fpr: float | None
) -> float:
    """The threshold a config asks for: its own, the one of its ``target_fpr``, or the
    model's default.

    Example:
        .. code-block:: python

            resolve_threshold(shipped_model(), None, 0.01)
    """
    if threshold is not None:
        return threshold
    if target_fpr is not None:
        return model.threshold_for(target_fpr)
    return model.default_threshold


def _param(rail: str, params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{rail!r}: ${name} must be a number in [0, 1] (got {raw!r})") from None
    if not 0 <= value <= 1:
        raise ConfigError(f"{rail!r}: ${name} must be a number in [0, 1] (got {raw!r})")
    return value


def prompt_injection_check(stage: Stage) -> Factory:
    """Factory of ``prompt injection check <stage>``."""
    rail = f"prompt injection check {stage}"

    def factory(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
        extra = sorted(set(params) - set(PARAMS))
        if extra:
            raise ConfigError(
                f"{rail!r}: unknown parameter ${extra[0]}; known: $target_fpr, $threshold"
            )
        threshold = _param(rail, params, "threshold")
        target_fpr = _param(rail, params, "target_fpr")
        if threshold is not None and target_fpr is not None:
            raise ConfigError(f"{rail!r}: set $threshold or $target_fpr, not both")
        if threshold is None and target_fpr is None:
            settings = config.rails.config.prompt_injection
            threshold, target_fpr = settings.threshold, settings.target_fpr
        model = shipped_model()
        cut = resolve_threshold(model, threshold, target_fpr)
        score_of = model.score

        def check(text: str) -> RailResult:
            score = score_of(text)
            facts = {"score": round(score, 4), "threshold": round(cut, 4)}
            if score < cut:
                return RailResult(allowed=True, metadata=facts)
            return RailResult(
                allowed=False,
                reason=f"prompt injection score {score:.3f} >= threshold {cut:.3f}",
                metadata=facts,
            )

        # Microseconds per window: cheaper on the event loop than a hop to a thread.
        return build_spec(check, name=rail, inline=True)

    return factory


__all__ = ["PARAMS", "prompt_injection_check", "resolve_threshold"]
