"""The Rails page's figures: per rail of a config, its runs, blocks, errors and p50/p95
latency since the server started, read from the server's own Prometheus metrics.

Blocks and errors are counted for every request; rail runs and their latency for every
request when the server runs with ``--rail-metrics``, else for console runs only (which
listen to their rails anyway). Percentiles are interpolated within histogram buckets, as
Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from langchain_guardrails.config.rails_config import FlowSpec, RailsConfig
from langchain_guardrails.server.operations.telemetry import ServerMetrics

STAGES = ("input", "tool_input", "output", "tool_output")


def config_rails(config: RailsConfig) -> list[tuple[str, str]]:
    """``(stage, rail)`` of every rail of ``config``, in stage order.

    Example:
        .. code-block:: python

            config_rails(config)  # [("input", "regex check input"), ("output", ...)]
    """
    rails = config.rails
    out: list[tuple[str, str]] = []
    for stage in STAGES:
        for flow in getattr(rails, stage).flows:
            out.append((stage, flow.flow if isinstance(flow, FlowSpec) else flow))
    return out


def rail_rows(
    metrics: ServerMetrics | None, config_id: str, rails: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """One row per rail: ``stage``, ``rail``, ``calls``, ``blocks``, ``errors``, ``p50_ms``,
    ``p95_ms`` (``None`` before the first timed run)."""
    families = _families(metrics)
    buckets: dict[tuple[str, str], dict[float, float]] = defaultdict(dict)
    counts: dict[tuple[str, str], float] = defaultdict(float)
    blocks: dict[tuple[str, str], float] = defaultdict(float)
    errors: dict[tuple[str, str], float] = defaultdict(float)
    for name, labels, value in families:
        if labels.get("config_id") != config_id:
            continue
        key = (labels.get("stage", ""), labels.get("rail", ""))
        if name == "guardrails_rail_duration_seconds_bucket":
            buckets[key][float(labels["le"])] = value
        elif name == "guardrails_rail_duration_seconds_count":
            counts[key] += value
        elif name == "guardrails_blocks_total":
            blocks[key] += value
        elif name == "guardrails_rail_errors_total":
            errors[key] += value
    rows = []
    for stage, rail in rails:
        key = (stage, rail)
        rows.append(
            {
                "stage": stage,
                "rail": rail,
                "calls": int(counts[key]),
                "blocks": int(blocks[key]),
                "errors": int(errors[key]),
                "p50_ms": _ms(quantile(0.5, buckets[key])),
                "p95_ms": _ms(quantile(0.95, buckets[key])),
            }
        )
    return rows


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The ``q`` quantile of a cumulative histogram (upper bound -> count), interpolated
    linearly within its bucket; ``None`` when it holds nothing.

    Example:
        .. code-block:: python

            quantile(0.5, {0.001: 0, 0.005: 4, math.inf: 4})  # 0.003
    """
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bucket: its bound is all we know
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _families(metrics: ServerMetrics | None) -> list[tuple[str, dict[str, str], float]]:
    if metrics is None:
        return []
    from prometheus_client.parser import text_string_to_metric_families

    text = metrics.render().decode()  # summed over the workers, as /metrics answers
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


__all__ = ["STAGES", "config_rails", "quantile", "rail_rows"]
