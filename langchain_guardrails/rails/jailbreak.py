"""``jailbreak detection heuristics``: the perplexity heuristics of NeMo Guardrails, computed
with a local transformers causal LM (``rails.config.jailbreak_detection``, ``hf`` extra).

* length per perplexity: ``len(text) / perplexity(text) >= length_per_perplexity_threshold``
  (long, fluent prompts that pile up instructions);
* prefix / suffix perplexity: for texts of 20 words or more, the perplexity of the first 19
  words or of the 19 words before the last one ``>= prefix_suffix_perplexity_threshold``
  (adversarial suffixes such as GCG strings read as gibberish to a language model).

No LLM call to a provider; the model runs on the worker thread of
:mod:`~langchain_guardrails.rails.hf_models`, shared by all requests of the process.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_guardrails.config.actions import ActionSpec, RailResult, build_spec
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError, require
from langchain_guardrails.rails.hf_models import (
    BatchWorker,
    model_folder,
    require_hf,
    shared_worker,
)

RAIL = "jailbreak detection heuristics"
PREFIX_SUFFIX_WORDS = 20
"""Texts shorter than this many words skip the prefix/suffix check (as in NeMo Guardrails)."""

Perplexities = Callable[[list[str]], Awaitable[list[float | None]]]


def prefix_suffix(text: str) -> tuple[str, str] | None:
    """The first 19 words and the 19 words before the last one, for texts of 20+ words."""
    words = text.strip().split()
    if len(words) < PREFIX_SUFFIX_WORDS:
        return None
    return " ".join(words[:19]), " ".join(words[-20:-1])


@dataclass(frozen=True, slots=True)
class JailbreakScores:
    """What the heuristics measured; ``triggered`` names the checks over their threshold."""

    length_per_perplexity: float | None
    prefix_perplexity: float | None
    suffix_perplexity: float | None
    triggered: tuple[str, ...]


def judge(
    text: str,
    perplexity: float | None,
    prefixes: tuple[float | None, float | None] | None,
    *,
    length_per_perplexity_threshold: float,
    prefix_suffix_perplexity_threshold: float,
) -> JailbreakScores:
    """Apply the thresholds to measured perplexities (``None``: too short to measure)."""
    triggered = []
    lp = len(text) / perplexity if perplexity and math.isfinite(perplexity) else None
    if lp is not None and lp >= length_per_perplexity_threshold:
        triggered.append("length_per_perplexity")
    prefix, suffix = prefixes or (None, None)
    if any(p is not None and p >= prefix_suffix_perplexity_threshold for p in (prefix, suffix)):
        triggered.append("prefix_suffix_perplexity")
    return JailbreakScores(lp, prefix, suffix, tuple(triggered))


async def score(
    text: str,
    perplexities: Perplexities,
    *,
    length_per_perplexity_threshold: float,
    prefix_suffix_perplexity_threshold: float,
) -> JailbreakScores:
    """Measure ``text`` (one batched model call) and apply the thresholds."""
    parts = prefix_suffix(text)
    measured = await perplexities([text, *(parts or ())])
    return judge(
        text,
        measured[0],
        (measured[1], measured[2]) if parts else None,
        length_per_perplexity_threshold=length_per_perplexity_threshold,
        prefix_suffix_perplexity_threshold=prefix_suffix_perplexity_threshold,
    )


def jailbreak_heuristics(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
    """Factory of ``jailbreak detection heuristics``."""
    if params:
        raise ConfigError(
            f"{RAIL!r} takes no $ parameters; configure it in rails.config.jailbreak_detection"
        )
    settings = config.rails.config.jailbreak_detection
    if settings.server_endpoint:
        from langchain_guardrails.rails.jailbreak_remote import remote_heuristics

        return remote_heuristics(config)
    if not settings.model_path:
        raise ConfigError(
            f"{RAIL!r} needs rails.config.jailbreak_detection.server_endpoint (a jailbreak "
            "detection server's /heuristics route) or model_path (a local folder with a "
            "transformers causal LM such as gpt2-large; nothing is downloaded)"
        )
    folder = model_folder(config, settings.model_path, "jailbreak_detection", RAIL)
    require_hf()
    worker: BatchWorker[str, float | None] = shared_worker(
        ("causal-lm", str(folder.resolve()), settings.device),
        lambda: BatchWorker(
            lambda: load_perplexity(folder, settings.device),
            batch_size=8,
            name="langchain-guardrails-jailbreak-lm",
        ),
    )
    lp_threshold = settings.length_per_perplexity_threshold
    ps_threshold = settings.prefix_suffix_perplexity_threshold

    async def check(text: str) -> RailResult:
        if not text.strip():
            return RailResult(allowed=True)
        scores = await score(
            text,
            worker.run,
            length_per_perplexity_threshold=lp_threshold,
            prefix_suffix_perplexity_threshold=ps_threshold,
        )
        if not scores.triggered:
            return RailResult(allowed=True)
        return RailResult(
            allowed=False,
            reason=f"jailbreak heuristics triggered: {', '.join(scores.triggered)}",
            metadata={
                "checks": list(scores.triggered),
                "length_per_perplexity": _rounded(scores.length_per_perplexity),
                "prefix_perplexity": _rounded(scores.prefix_perplexity),
                "suffix_perplexity": _rounded(scores.suffix_perplexity),
            },
        )

    return build_spec(check, name=RAIL)


def load_perplexity(folder: Path, device: str) -> Callable[[list[str]], list[float | None]]:
    """Load the causal LM in ``folder``; a function giving each text's perplexity (``None``
    for texts of fewer than two tokens). Long texts use a sliding window (stride 512)."""
    torch = require("torch", "hf")
    transformers = require("transformers", "hf")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(folder)).to(device).eval()
    config: Any = model.config
    positions = getattr(config, "n_positions", None)
    max_length = int(positions or getattr(config, "max_position_embeddings", None) or 1024)
    stride = min(512, max_length)

    def perplexity(text: str) -> float | None:
        ids = tokenizer(text, return_tensors="pt").input_ids
        length = ids.size(1)
        if length < 2:
            return None
        losses = []
        previous_end = 0
        for begin in range(0, length, stride):
            end = min(begin + max_length, length)
            target_length = end - previous_end
            window = ids[:, begin:end].to(device)
            targets = window.clone()
            targets[:, :-target_length] = -100
            with torch.no_grad():
                losses.append(model(window, labels=targets).loss)
            previous_end = end
            if end == length:
                break
        return float(torch.exp(torch.stack(losses).mean()).item())

    return lambda texts: [perplexity(t) for t in texts]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


__all__ = [
    "JailbreakScores",
    "jailbreak_heuristics",
    "judge",
    "load_perplexity",
    "prefix_suffix",
    "score",
]
