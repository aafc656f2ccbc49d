"""Span-level quality of the sensitive-data recognizers: ``langchain-guardrails eval --spans``.

A span dataset is JSONL; each line is ``{"text": ..., "spans": [[ENTITY, value], ...],
"locale": optional}``. Each value is located in the text in order (the first occurrence after
the previous value), so a file states values, never offsets. A line without spans is a hard
negative: anything found there is a false positive.

A found span counts as a true positive only when entity, start and end are all exact.

Example:
    .. code-block:: python

        examples = load_spans("pii_spans.jsonl")
        scores = score_spans(examples, builtin_finder(entities_of(examples)))
        scores["EMAIL_ADDRESS"].f1  # 1.0
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_guardrails.errors import require
from langchain_guardrails.eval.dataset import DatasetError
from langchain_guardrails.eval.jsonl import JSONLError, decode_line, read_lines
from langchain_guardrails.eval.report import fmt

Span = tuple[int, int, str]
"""``(start, end, entity)``."""
Finder = Callable[[str], list[Span]]
"""Spans a recognizer set finds in a text."""

KEYS = ("text", "spans", "locale")


@dataclass(frozen=True, slots=True)
class SpanExample:
    """One text with its expected spans."""

    text: str
    spans: tuple[Span, ...]
    locale: str | None = None
    line: int = 0


@dataclass(slots=True)
class SpanCounts:
    """Exact-span counts of one entity."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        """Share of found spans that are expected; ``None`` when nothing was found."""
        found = self.tp + self.fp
        return self.tp / found if found else None

    @property
    def recall(self) -> float | None:
        """Share of expected spans found; ``None`` when none is expected."""
        expected = self.tp + self.fn
        return self.tp / expected if expected else None

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall (``None`` when either is)."""
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


def load_spans(path: str | Path) -> list[SpanExample]:
    """Read a span dataset; a bad line raises :class:`DatasetError` naming file and line.

    Example:
        .. code-block:: python

            load_spans("pii_spans.jsonl")[0].spans  # ((12, 29, "EMAIL_ADDRESS"),)
    """
    file = Path(path)
    try:
        lines = read_lines(file)
    except OSError as exc:
        raise DatasetError(f"{file}: cannot read ({type(exc).__name__})") from exc
    except JSONLError as exc:
        raise DatasetError(f"{file}: {exc}") from None
    examples = parse_span_lines(lines, str(file))
    if not examples:
        # An empty file would score nothing and exit 0, as if every recognizer were perfect.
        raise DatasetError(f"{file}: the span dataset has no examples")
    return examples


def parse_span_lines(lines: Iterable[str], name: str = "<spans>") -> list[SpanExample]:
    """Parse span lines (blank lines and ``#`` comments skipped)."""
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            examples.append(_parse(decode_line(line), number))
        except (ValueError, TypeError) as exc:
            raise DatasetError(f"{name}:{number}: {exc}") from None
    return examples


def _parse(item: Any, line: int) -> SpanExample:
    if not isinstance(item, dict):
        raise ValueError("expected a JSON object")
    unknown = [k for k in item if k not in KEYS]
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; known keys: {', '.join(KEYS)}")
    text, pairs = item.get("text"), item.get("spans", [])
    if not isinstance(text, str):
        raise ValueError("'text' must be a string")
    if not isinstance(pairs, list):
        raise ValueError("'spans' must be a list of [ENTITY, value] pairs")
    spans: list[Span] = []
    position = 0
    for pair in pairs:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        ):
            raise ValueError("'spans' must be a list of [ENTITY, value] pairs")
        entity, value = pair
        at = text.find(value, position) if value else -1
        if at < 0:
            raise ValueError(f"{entity} value {value!r} is not in the text (after the previous)")
        spans.append((at, at + len(value), entity))
        position = at + len(value)
    locale = item.get("locale")
    if locale is not None and not isinstance(locale, str):
        raise ValueError("'locale' must be a string")
    return SpanExample(text, tuple(spans), locale, line)


def entities_of(examples: Sequence[SpanExample]) -> list[str]:
    """The entities a dataset expects, in first-seen order."""
    return list(dict.fromkeys(s[2] for e in examples for s in e.spans))


def score_spans(examples: Sequence[SpanExample], find: Finder) -> dict[str, SpanCounts]:
    """Exact-span counts per entity (entities found but never expected are counted too).

    Example:
        .. code-block:: python

            score_spans(examples, builtin_finder(["URL"]))["URL"].recall
    """
    counts: dict[str, SpanCounts] = {}
    for example in examples:
        expected, found = set(example.spans), set(find(example.text))
        for _, _, entity in expected | found:
            counts.setdefault(entity, SpanCounts())
        for span in expected & found:
            counts[span[2]].tp += 1
        for span in found - expected:
            counts[span[2]].fp += 1
        for span in expected - found:
            counts[span[2]].fn += 1
    return counts


def span_errors(examples: Sequence[SpanExample], find: Finder) -> list[dict[str, Any]]:
    """Per wrong example: its line, the missed and the spurious spans (``[entity, value]``)."""
    errors = []
    for example in examples:
        expected, found = set(example.spans), set(find(example.text))
        if expected != found:
            errors.append(
                {
                    "line": example.line,
                    "missed": [[e, example.text[s:t]] for s, t, e in sorted(expected - found)],
                    "spurious": [[e, example.text[s:t]] for s, t, e in sorted(found - expected)],
                }
            )
    return errors


def builtin_finder(entities: Sequence[str]) -> Finder:
    """The package's built-in recognizers of ``entities`` as a :data:`Finder`."""
    from langchain_guardrails.rails.recognizers import Scanner

    scanner = Scanner.for_entities(entities)
    return lambda text: [(f.start, f.end, f.entity) for f in scanner.find(text)]


def presidio_finder(entities: Sequence[str]) -> Finder:
    """Presidio's predefined pattern recognizers of ``entities`` (no NLP model, no context
    enhancement; overlapping results resolved like the built-in scanner: earlier, then longer,
    then higher score)."""
    from langchain_guardrails.eval.presidio_ref import RECOGNIZERS

    predefined = require("presidio_analyzer.predefined_recognizers", "presidio")
    recognizers: list[Any] = [
        getattr(predefined, RECOGNIZERS[e])() for e in entities if e in RECOGNIZERS
    ]

    def find(text: str) -> list[Span]:
        results = [
            (r.start, r.end, r.entity_type, -r.score)
            for recognizer in recognizers
            for r in recognizer.analyze(text, recognizer.supported_entities, None)
        ]
        results.sort(key=lambda r: (r[0], r[0] - r[1], r[3]))
        kept: list[Span] = []
        for start, end, entity, _ in results:
            if not kept or start >= kept[-1][1]:
                kept.append((start, end, entity))
        return kept

    return find


COLUMNS = ["entity", "expected", "tp", "fp", "fn", "precision", "recall", "f1"]


def span_rows(
    counts: Mapping[str, SpanCounts],
    entities: Sequence[str],
    reference: Mapping[str, SpanCounts] | None = None,
) -> list[list[str]]:
    """One table row per entity, then ``(all)``; with ``reference``, its P/R/F1 appended."""
    names = [*entities, *(e for e in counts if e not in entities)]
    total = SpanCounts(
        sum(c.tp for c in counts.values()),
        sum(c.fp for c in counts.values()),
        sum(c.fn for c in counts.values()),
    )
    rows = []
    for name, c in [*((n, counts.get(n, SpanCounts())) for n in names), ("(all)", total)]:
        row = [name, fmt(c.tp + c.fn), fmt(c.tp), fmt(c.fp), fmt(c.fn)]
        row += [fmt(c.precision), fmt(c.recall), fmt(c.f1)]
        if reference is not None:
            # Every expected span is in the reference's counts (a miss at least).
            if name == "(all)":
                ref = SpanCounts(
                    sum(r.tp for r in reference.values()),
                    sum(r.fp for r in reference.values()),
                    sum(r.fn for r in reference.values()),
                )
            else:
                ref = reference.get(name, SpanCounts())
            row += [fmt(ref.precision), fmt(ref.recall), fmt(ref.f1)]
        rows.append(row)
    return rows


REFERENCE_COLUMNS = ["presidio precision", "presidio recall", "presidio f1"]


def as_dict(counts: Mapping[str, SpanCounts]) -> dict[str, dict[str, Any]]:
    """JSON-ready figures per entity."""
    return {
        name: {
            "tp": c.tp,
            "fp": c.fp,
            "fn": c.fn,
            "precision": c.precision,
            "recall": c.recall,
            "f1": c.f1,
        }
        for name, c in counts.items()
    }


__all__ = [
    "COLUMNS",
    "REFERENCE_COLUMNS",
    "Finder",
    "Span",
    "SpanCounts",
    "SpanExample",
    "as_dict",
    "builtin_finder",
    "entities_of",
    "load_spans",
    "parse_span_lines",
    "presidio_finder",
    "run_spans",
    "score_spans",
    "span_errors",
    "span_rows",
]


def run_spans(args: Any) -> int:
    """``eval --spans FILE [--reference presidio] [--show-errors N] [--json|--markdown]``."""
    from langchain_guardrails.errors import EXIT_OK, CLIError
    from langchain_guardrails.eval.report import table

    if args.config or args.dataset or args.shipped:
        raise CLIError("--spans judges the built-in recognizers: drop --config/--dataset/--shipped")
    try:
        examples = load_spans(args.spans)
    except DatasetError as exc:
        raise CLIError(str(exc)) from exc
    entities = entities_of(examples)
    find = builtin_finder(entities)
    counts = score_spans(examples, find)
    reference = (
        score_spans(examples, presidio_finder(entities)) if args.reference == "presidio" else None
    )
    errors = span_errors(examples, find)[: args.show_errors]
    if args.json:
        payload: dict[str, Any] = {"entities": as_dict(counts), "errors": errors}
        if reference is not None:
            payload["reference"] = {"presidio": as_dict(reference)}
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return EXIT_OK
    header = [*COLUMNS, *(REFERENCE_COLUMNS if reference is not None else [])]
    print(table(header, span_rows(counts, entities, reference), markdown=args.markdown))
    for error in errors:
        print(f"\nline {error['line']}: missed {error['missed']}, spurious {error['spurious']}")
    return EXIT_OK
