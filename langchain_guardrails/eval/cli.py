"""``langchain-guardrails eval``: measure a config's rails on a labelled dataset.

Example:
    .. code-block:: bash

        langchain-guardrails eval --config my_config --dataset my_set.jsonl --show-errors 5
        langchain-guardrails eval --config my_config --dataset my_set.jsonl --stream --unit tokens
        langchain-guardrails eval --shipped --markdown   # built-in rails on the shipped sets
        langchain-guardrails eval --spans pii_spans.jsonl --reference presidio  # per entity
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.eval.dataset import DatasetError, load_dataset
from langchain_guardrails.eval.replay import UNITS, replay
from langchain_guardrails.eval.report import render_text, table
from langchain_guardrails.eval.runner import EvalResult, evaluate
from langchain_guardrails.eval.sweep import sweep

DATA = Path(__file__).resolve().parent / "data"
SHIPPED = ("pii", "jailbreak", "outputs", "injection")
"""Shipped pairs: ``data/<name>.jsonl`` judged by the config ``data/configs/<name>``."""


def add_eval_parser(commands: Any) -> None:
    """Register ``eval`` on the CLI's sub-parsers (called by ``langchain_guardrails.cli.main``)."""
    parser = commands.add_parser("eval", help="measure how well a config's rails judge a dataset")
    parser.add_argument("--config", help="config folder")
    parser.add_argument("--dataset", help="JSONL file of labelled examples")
    parser.add_argument(
        "--shipped", action="store_true", help="run the shipped datasets with their configs"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="checks at once (default 8)")
    parser.add_argument(
        "--show-errors",
        type=int,
        nargs="?",
        const=None,  # --show-errors without N: every misclassified example
        default=0,
        metavar="N",
        help="list the first N misclassified examples per rail (no N: all of them)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument(
        "--html", metavar="FILE", help="also write an HTML report (matrices, charts, examples)"
    )
    parser.add_argument("--sweep", action="store_true", help="ROC AUC of scoring rails")
    parser.add_argument(
        "--target-fpr", type=float, default=0.01, help="false-positive rate for --sweep (0.01)"
    )
    parser.add_argument("--stream", action="store_true", help="replay outputs through streaming")
    parser.add_argument("--unit", choices=list(UNITS), default="words", help="stream units")
    parser.add_argument(
        "--unit-delay", type=float, default=0.0, help="seconds between streamed units (0)"
    )
    parser.add_argument(
        "--reference",
        choices=["presidio"],
        help="also judge with Presidio's recognizers, next to the sensitive-data rails",
    )
    parser.add_argument(
        "--spans",
        metavar="FILE",
        help="span-level precision/recall/F1 of the built-in recognizers on a span dataset",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``eval`` with parsed arguments; returns the exit code."""
    from langchain_guardrails.errors import EXIT_OK, CLIError

    if args.concurrency < 1:
        raise CLIError(f"--concurrency must be >= 1 (got {args.concurrency})")
    if not 0 <= args.target_fpr <= 1:
        raise CLIError(f"--target-fpr must be within 0..1 (got {args.target_fpr})")
    if args.unit_delay < 0:
        raise CLIError(f"--unit-delay must be >= 0 (got {args.unit_delay})")
    if args.show_errors is not None and args.show_errors < 0:
        raise CLIError(f"--show-errors must be >= 0 (got {args.show_errors})")
    if args.html:
        _require_writable(Path(args.html))
    if args.spans:
        from langchain_guardrails.eval.spans import run_spans

        return run_spans(args)
    if args.shipped:
        if args.config or args.dataset:
            raise CLIError(
                "--shipped runs the shipped configs and datasets: drop --config/--dataset"
            )
        pairs = [(DATA / "configs" / n, shipped_dataset(n), n) for n in SHIPPED]
    elif args.config and args.dataset:
        pairs = [(Path(args.config), Path(args.dataset), Path(args.dataset).stem)]
    else:
        raise CLIError("eval needs --config DIR and --dataset FILE.jsonl (or --shipped)")
    # Every input is read and checked before the first check runs: a bad line of the last
    # dataset must not cost the whole run of the first.
    loaded = []
    for config_path, dataset_path, name in pairs:
        try:
            examples = load_dataset(dataset_path)
        except DatasetError as exc:
            raise CLIError(str(exc)) from exc
        if not config_path.exists():
            raise CLIError(f"--config {config_path}: no such file or folder")
        loaded.append((name, RailsConfig.from_path(config_path), examples))
    runs = [
        (name, asyncio.run(_measure(config, examples, args))) for name, config, examples in loaded
    ]
    _print(runs, args)
    if args.html:
        from langchain_guardrails.eval.html_report import render_html

        page = render_html(_merged(runs), title=f"langchain-guardrails eval: {_names(runs)}")
        try:
            Path(args.html).write_text(page, encoding="utf-8")
        except OSError as exc:  # e.g. the folder went away during the run
            raise CLIError(f"--html {args.html}: cannot write ({exc.strerror})") from exc
        print(f"wrote {args.html}", file=sys.stderr)
    return EXIT_OK


def shipped_dataset(name: str) -> Path:
    """The shipped dataset ``name``: a file, or a folder of one file per source."""
    folder = DATA / name
    return folder if folder.is_dir() else DATA / f"{name}.jsonl"


def _require_writable(path: Path) -> None:
    """A usage error now, before the run, when the report could not be written after it."""
    from langchain_guardrails.errors import CLIError

    if path.is_dir():
        raise CLIError(f"--html {path}: is a folder; give a file name, e.g. {path / 'eval.html'}")
    folder = path.parent
    if not folder.is_dir():
        raise CLIError(f"--html {path}: the folder {folder} does not exist")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise CLIError(f"--html {path}: not writable")


async def _measure(config: RailsConfig, examples: list[Any], args: argparse.Namespace) -> Any:
    progress = _progress_bar() if sys.stderr.isatty() and not args.no_progress else None
    result: EvalResult = await evaluate(
        config, examples, concurrency=args.concurrency, progress=progress
    )
    if progress is not None:
        print(file=sys.stderr)
    if args.reference == "presidio":
        from langchain_guardrails.eval.presidio_ref import presidio_reports

        result.reports.extend(presidio_reports(config, examples))
    # Every misclassified example is kept for the HTML page; the text and JSON outputs list
    # the first --show-errors of them (see _listed).
    figures = result.as_dict(show_errors=None)
    if args.sweep:
        found = await sweep(
            config, examples, target_fpr=args.target_fpr, concurrency=args.concurrency
        )
        figures["sweeps"] = [s.as_dict() for s in found]
    if args.stream:
        streamed = await replay(
            config,
            examples,
            unit=args.unit,
            unit_delay=args.unit_delay,
            concurrency=args.concurrency,
        )
        figures["stream"] = streamed.as_dict()
    return figures


def _listed(figures: dict[str, Any], limit: int | None) -> dict[str, Any]:
    """A copy of ``figures`` whose reports list the first ``limit`` wrong examples."""
    reports = [{**r, "errors": r["errors"][:limit]} for r in figures["reports"]]
    return {**figures, "reports": reports}


def _print(runs: list[tuple[str, Any]], args: argparse.Namespace) -> None:
    runs = [(name, _listed(figures, args.show_errors)) for name, figures in runs]
    if args.json:
        payload = runs[0][1] if len(runs) == 1 else dict(runs)
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if len(runs) == 1:
        print(render_text(runs[0][1], markdown=args.markdown))
        return
    from langchain_guardrails.eval.report import COLUMNS, COSTS, is_duplicate, quality_rows

    rows = [
        [name, *row]
        for name, figures in runs
        for row in quality_rows(
            [r for r in figures["reports"] if not is_duplicate(r, figures["reports"])]
        )
    ]
    print(table(["dataset", *COLUMNS, *COSTS], rows, markdown=args.markdown))
    for name, figures in runs:
        detail = render_text(figures, markdown=args.markdown, main_table=False)
        if detail:
            print(f"\n{name}:\n{detail}")


def _merged(runs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(runs) == 1:
        merged: dict[str, Any] = runs[0][1]
        return merged
    return {
        "reports": [
            {**r, "stage": f"{name}: {r['stage']}"} for name, f in runs for r in f["reports"]
        ],
        "skipped": {f"{n}: {s}": w for n, f in runs for s, w in f["skipped"].items()},
        "streams": {n: f["stream"] for n, f in runs if f.get("stream") is not None},
    }


def _names(runs: list[tuple[str, Any]]) -> str:
    return ", ".join(name for name, _ in runs)


def _progress_bar() -> Any:
    def show(done: int, total: int) -> None:
        filled = 30 * done // max(total, 1)
        bar = "#" * filled + "." * (30 - filled)
        print(f"\reval [{bar}] {done}/{total}", end="", file=sys.stderr, flush=True)

    return show


__all__ = ["DATA", "SHIPPED", "add_eval_parser", "run", "shipped_dataset"]
