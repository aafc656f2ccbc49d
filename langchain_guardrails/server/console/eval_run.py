"""The Eval page: a JSONL dataset (uploaded, or a shipped one) judged by a served config's
rails, with the report of ``eval --html``
(:func:`~langchain_guardrails.eval.html_report.render_html`) to show in the page."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.eval.cli import SHIPPED, shipped_dataset
from langchain_guardrails.eval.dataset import DatasetError, load_dataset, parse_lines
from langchain_guardrails.eval.runner import evaluate
from langchain_guardrails.server.protocol.request_error import RequestError

MAX_EXAMPLES = 2000
"""Examples one console eval may hold (a larger set belongs to ``langchain-guardrails eval``)."""
SHOW_ERRORS = 20
"""Misclassified examples listed per rail in the report."""


def shipped_datasets() -> list[dict[str, Any]]:
    """The shipped datasets: ``name`` and ``examples``."""
    return [
        {"name": name, "examples": len(load_dataset(shipped_dataset(name)))} for name in SHIPPED
    ]


def examples_of(body: dict[str, Any]) -> tuple[str, list[Any]]:
    """The dataset a request names (``dataset``: a shipped name) or carries (``jsonl``: the
    file's text), with its name; ``RequestError`` naming the problem otherwise."""
    shipped, text = body.get("dataset"), body.get("jsonl")
    if (shipped is None) == (text is None):
        raise RequestError("give either 'dataset' (a shipped dataset) or 'jsonl' (its text)")
    try:
        if shipped is not None:
            if shipped not in SHIPPED:
                raise RequestError(
                    f"dataset {shipped!r} is not shipped; shipped: {', '.join(SHIPPED)}",
                    param="dataset",
                )
            return str(shipped), load_dataset(shipped_dataset(str(shipped)))
        if not isinstance(text, str):
            raise RequestError("'jsonl' must be the dataset's text (a string)", param="jsonl")
        name = str(body.get("name") or "uploaded.jsonl")
        examples = parse_lines(text.splitlines(), name)
    except DatasetError as exc:
        raise RequestError(str(exc), param="jsonl") from exc
    if not examples:
        raise RequestError(f"{name}: the dataset has no examples", param="jsonl")
    if len(examples) > MAX_EXAMPLES:
        raise RequestError(
            f"{name}: {len(examples)} examples; the console runs at most {MAX_EXAMPLES} "
            "(use langchain-guardrails eval for more)",
            param="jsonl",
        )
    return name, examples


async def run_eval(config: RailsConfig, config_id: str, name: str, examples: list[Any]) -> str:
    """The HTML report of ``examples`` judged by ``config``."""
    from langchain_guardrails.eval.html_report import render_html

    result = await evaluate(config, examples, concurrency=8)
    figures = result.as_dict(SHOW_ERRORS)
    title = f"langchain-guardrails eval: {name} with {config_id}"
    # Plots are drawn with matplotlib, which blocks: off the event loop.
    return await asyncio.to_thread(render_html, figures, title=title)


__all__ = ["MAX_EXAMPLES", "examples_of", "run_eval", "shipped_datasets"]
