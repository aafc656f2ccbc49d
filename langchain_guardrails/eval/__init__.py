"""Measure how well a config's rails judge: quality (confusion matrix, precision, recall, F1,
FPR, per-category recall), cost (latency percentiles, LLM tokens per check), ROC sweeps of
scoring rails, and streaming-vs-whole-text agreement with leak before block.

The command line is ``langchain-guardrails eval``; the same is available from Python.

Imports: ``guard`` and the floors below it (``cli`` imports this room, never the reverse).

Example:
    .. code-block:: python

        import asyncio
        from langchain_guardrails import RailsConfig
        from langchain_guardrails.eval import evaluate, load_dataset

        result = asyncio.run(evaluate(RailsConfig.from_path("cfg"), load_dataset("set.jsonl")))
        print(result.as_dict()["reports"][0]["f1"])
"""

from __future__ import annotations

from langchain_guardrails.eval.dataset import DatasetError, Example, load_dataset, parse_lines
from langchain_guardrails.eval.metrics import Confusion, percentile, roc_auc, threshold_at_fpr
from langchain_guardrails.eval.replay import ReplayResult, replay, token_units
from langchain_guardrails.eval.runner import OVERALL, EvalResult, Outcome, RailReport, evaluate
from langchain_guardrails.eval.stages import NOT_SUPPORTED, check_example
from langchain_guardrails.eval.sweep import Scorer, Sweep, register_scorer, sweep

__all__ = [
    "NOT_SUPPORTED",
    "OVERALL",
    "Confusion",
    "DatasetError",
    "EvalResult",
    "Example",
    "Outcome",
    "RailReport",
    "ReplayResult",
    "Scorer",
    "Sweep",
    "check_example",
    "evaluate",
    "load_dataset",
    "parse_lines",
    "percentile",
    "register_scorer",
    "replay",
    "roc_auc",
    "sweep",
    "threshold_at_fpr",
    "token_units",
]
