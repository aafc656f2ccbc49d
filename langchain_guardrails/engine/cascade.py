"""Cascades: a cheap scored rail decides alone when it is confident, and an expensive rail
(an LLM judge, a classifier service) decides only in the uncertain band between.

Two ways to write one in ``config.yml``, both giving the same :class:`Cascade`::

    rails:
      input:
        flows:
          - "prompt injection check input $escalate=self check input $low=0.2 $high=0.8"
          - flow: prompt injection check input
            cascade: {escalate: "content safety check input $model=guard", low: 0.2, high: 0.8}

The cheap rail reports its score as ``RailResult.metadata["score"]`` (a probability of a
violation in ``[0, 1]``) on a pass as on a block; the cascade reads the score, not the cheap
rail's own verdict: ``score >= high`` blocks, ``score <= low`` passes, anything between is
decided by the escalated rail.

Example:
    .. code-block:: python

        split_cascade(FlowSpec(flow="my scorer"), {"escalate": "self check input", "low": "0.2",
                                                   "high": "0.8"})
        # ({}, Cascade(escalate="self check input", low=0.2, high=0.8))
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from langchain_guardrails.config.rails_config import FlowSpec
from langchain_guardrails.errors import ConfigError

CASCADE_PARAMS = ("escalate", "low", "high")
"""The ``$`` parameters of the short form; the cheap rail never sees them."""

Step = Literal["block", "pass", "escalate"]


class Verdict(Protocol):
    """What a cascade reads of a rail's decision (the engine's ``Decision``)."""

    @property
    def allowed(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def kind(self) -> Literal["guardrails_violation", "internal_error"]: ...
    @property
    def refusal(self) -> str | None: ...
    @property
    def metadata(self) -> Mapping[str, Any]: ...


D = TypeVar("D", bound=Verdict)


@dataclass(frozen=True, slots=True)
class Cascade:
    """A checked cascade: the escalated flow (as written) and the uncertain band."""

    escalate: str
    low: float
    high: float

    def step(self, score: float) -> Step:
        """What the cheap rail's ``score`` leads to.

        Example:
            .. code-block:: python

                Cascade("self check input", 0.2, 0.8).step(0.5)  # "escalate"
        """
        if score >= self.high:
            return "block"
        if score <= self.low:
            return "pass"
        return "escalate"

    async def decide(
        self,
        flow: str,
        refusal: str | None,
        cheap: D,
        ask_judge: Callable[[], Awaitable[D]],
        failed: Callable[[str], D],
        make: Callable[..., D],
    ) -> D:
        """The cascade's verdict from the cheap rail's decision: alone outside the band, by
        ``ask_judge()`` inside it. ``failed(why)`` is the engine's verdict for a failed rail
        and ``make`` builds a decision (the engine's ``Decision``)."""
        score = score_of(cheap.metadata)
        if score is None:
            # Fail closed: without a score the cascade cannot tell confident from uncertain.
            return failed("reported no score; a cascade needs RailResult(metadata={'score': 0..1})")
        step = self.step(score)
        if step == "pass":
            return make(allowed=True, metadata={**cheap.metadata, **self.metadata(score, "cheap")})
        if step == "block":
            return make(
                allowed=False,
                rail=flow,
                reason=f"cheap rail scored {score:.3f} (cascade high {self.high:g})",
                refusal=refusal,
                metadata={**cheap.metadata, **self.metadata(score, "cheap")},
            )
        verdict = await ask_judge()
        figures = {**verdict.metadata, **self.metadata(score, "escalated")}
        if verdict.allowed:
            return make(allowed=True, kind=verdict.kind, metadata=figures)
        return make(
            allowed=False,
            rail=flow,
            reason=verdict.reason,
            kind=verdict.kind,
            refusal=refusal or verdict.refusal,
            metadata=figures,
        )

    def metadata(self, score: float, decided_by: Literal["cheap", "escalated"]) -> dict[str, Any]:
        """What a verdict of the cascade says about who decided it (no text, figures only)."""
        figures: dict[str, Any] = {
            "decided_by": decided_by,
            "score": score,
            "band": [self.low, self.high],
        }
        if decided_by == "escalated":
            figures["escalated_to"] = self.escalate
        return figures


def split_cascade(
    spec: FlowSpec, params: Mapping[str, str]
) -> tuple[dict[str, str], Cascade | None]:
    """The cheap rail's own parameters, and the cascade of the flow entry (``None`` for a
    plain rail).

    Raises:
        ConfigError: a bad band, a missing part, or both forms on one entry.
    """
    short = {k: params[k] for k in CASCADE_PARAMS if k in params}
    own = {k: v for k, v in params.items() if k not in CASCADE_PARAMS}
    where = f"flow {spec.flow!r}"
    if spec.cascade is not None:
        if short:
            raise ConfigError(
                f"{where}: write the cascade either as ${next(iter(short))}=... parameters or "
                "as a cascade: section, not both"
            )
        c = spec.cascade
        return own, _checked(where, c.escalate, c.low, c.high)
    if not short:
        return own, None
    missing = [k for k in CASCADE_PARAMS if k not in short]
    if missing:
        raise ConfigError(
            f"{where}: a cascade needs $escalate=<rail> $low=<score> $high=<score>; "
            f"missing ${missing[0]}"
        )
    low, high = (_score(where, k, short[k]) for k in ("low", "high"))
    return own, _checked(where, short["escalate"], low, high)


def score_of(metadata: Mapping[str, Any]) -> float | None:
    """The score a cheap rail reported, when it is a number in ``[0, 1]``."""
    score = metadata.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float):
        return None
    value = float(score)
    return value if 0.0 <= value <= 1.0 else None


def _score(where: str, key: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{where}: ${key}={raw!r} is not a number") from None


def _checked(where: str, escalate: str, low: float, high: float) -> Cascade:
    for key, value in (("low", low), ("high", high)):
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            raise ConfigError(f"{where}: cascade {key}={value:g} is outside [0, 1]")
    if low > high:
        raise ConfigError(
            f"{where}: cascade low={low:g} is above high={high:g}; the uncertain band is "
            "low < score < high"
        )
    if not escalate.strip():
        raise ConfigError(f"{where}: cascade escalate names no rail")
    return Cascade(escalate=escalate.strip(), low=low, high=high)


__all__ = ["CASCADE_PARAMS", "Cascade", "Verdict", "score_of", "split_cascade"]
