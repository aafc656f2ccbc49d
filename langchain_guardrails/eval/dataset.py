"""Evaluation datasets: one JSON object per line, read and validated with errors naming the line.

Each line is ``{"input": ..., "output": ..., "label": "block" | "allow", "stage": ...,
"category": ...}``:

* ``stage`` is ``input`` (the input rails check ``input``), ``output`` (the output rails check
  ``output``, with ``input`` as the user message), ``tool_output`` (``rails.tool_output``
  checks ``tool_call``, a call the model emits: ``{"name", "args", "id"}``) or ``tool_input``
  (``rails.tool_input`` checks ``output`` as a tool result; ``tool_call`` optional);
* ``label`` says what the rails should do: ``block`` (catch it) or ``allow``;
* ``category`` (optional) groups examples for per-category recall, e.g. ``EMAIL_ADDRESS``;
* ``source`` (optional) names the corpus an example comes from (vendored data), and ``id`` names
  the example in error listings.

Example:
    .. code-block:: python

        examples = load_dataset("my_set.jsonl")
        examples[0].label  # "block"
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from langchain_guardrails.eval.jsonl import JSONLError, decode_line, read_lines

Stage = Literal["input", "output", "tool_output", "tool_input"]
Label = Literal["block", "allow"]
STAGES: tuple[str, ...] = get_args(Stage)
LABELS: tuple[str, ...] = get_args(Label)
KEYS = ("input", "output", "label", "stage", "category", "tool_call", "id", "source")


class DatasetError(ValueError):
    """A dataset line that cannot be used; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled example of a dataset."""

    input: str
    """The user message (for ``input`` examples, the text under check)."""
    label: Label
    """What the rails should do with it."""
    stage: Stage = "input"
    """Which rails judge it."""
    output: str | None = None
    """The text under check for ``output`` and tool stages."""
    category: str | None = None
    """Group for per-category recall."""
    tool_call: Mapping[str, Any] | None = None
    """The tool call (``{"name", "args", "id"}``) of a tool-stage example."""
    line: int = 0
    """Line number in the dataset file (1-based; 0 when built in code)."""
    id: str | None = field(default=None)
    """Optional identifier shown in error listings."""
    source: str | None = None
    """Where the example comes from (a vendored corpus's name), for per-source figures."""

    @property
    def text(self) -> str:
        """The text the rails of ``stage`` check (a tool call as ``name(json args)``)."""
        if self.stage == "input":
            return self.input
        if self.stage == "tool_output" and self.tool_call is not None:
            args = self.tool_call.get("args")
            rendered = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            return f"{self.tool_call.get('name') or ''}({rendered})"
        return self.output or ""

    @property
    def should_block(self) -> bool:
        """True when the label is ``block``."""
        return self.label == "block"


def load_dataset(path: str | Path) -> list[Example]:
    """Read a JSONL dataset (or every ``*.jsonl`` of a folder, in name order); blank lines and
    lines starting with ``#`` are skipped.

    Raises :class:`DatasetError` naming the file and line of the first bad line.

    Example:
        .. code-block:: python

            examples = load_dataset("langchain_guardrails/eval/data/pii.jsonl")
    """
    file = Path(path)
    if file.is_dir():
        # A folder of datasets (one file per source, e.g. data/injection/): all of them.
        files = sorted(file.glob("*.jsonl"))
        if not files:
            raise DatasetError(f"{file}: the folder has no .jsonl datasets")
        return [example for part in files for example in load_dataset(part)]
    if not file.is_file():
        raise DatasetError(f"{file}: no such dataset file")
    try:
        lines = read_lines(file)
    except OSError as exc:
        raise DatasetError(f"{file}: cannot read the dataset ({exc})") from exc
    except JSONLError as exc:
        raise DatasetError(f"{file}: {exc}") from None
    examples = parse_lines(lines, str(file))
    if not examples:
        raise DatasetError(f"{file}: the dataset has no examples")
    return examples


def parse_lines(lines: Iterable[str], source: str = "<dataset>") -> list[Example]:
    """Parse JSONL lines (see :func:`load_dataset`).

    Example:
        .. code-block:: python

            parse_lines(['{"input": "hi", "label": "allow"}'])[0].stage  # "input"
    """
    examples = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        where = f"{source}:{number}"
        try:
            record = decode_line(raw)
        except JSONLError as exc:
            raise DatasetError(f"{where}: {exc}") from None
        examples.append(_example(record, where, number))
    return examples


def _example(record: Any, where: str, number: int) -> Example:
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(record).__name__}")
    unknown = sorted(set(record) - set(KEYS))
    if unknown:
        raise DatasetError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(KEYS)}")
    label = record.get("label")
    if label not in LABELS:
        raise DatasetError(f'{where}: "label" must be "block" or "allow" (got {label!r})')
    stage = record.get("stage", "input")
    if stage not in STAGES:
        raise DatasetError(f'{where}: "stage" must be one of {", ".join(STAGES)} (got {stage!r})')
    text = record.get("input", "" if stage != "input" else None)
    if not isinstance(text, str):
        raise DatasetError(f'{where}: "input" must be a string (got {_kind(text)})')
    output = record.get("output")
    tool_call = record.get("tool_call")
    if tool_call is not None and (not isinstance(tool_call, dict) or stage in ("input", "output")):
        raise DatasetError(f'{where}: "tool_call" must be an object, on tool stages only')
    if stage == "tool_output":
        if tool_call is None or not isinstance(tool_call.get("name"), str):
            raise DatasetError(
                f"{where}: a 'tool_output' example needs \"tool_call\": "
                '{"name": "...", "args": {...}} (the call under check)'
            )
    elif stage != "input" and not isinstance(output, str):
        raise DatasetError(
            f'{where}: a {stage!r} example needs "output" (the text under check) as a string '
            f"(got {_kind(output)})"
        )
    if stage == "input" and output is not None:
        raise DatasetError(f"{where}: an 'input' example has no \"output\"; use stage 'output'")
    for key in ("category", "id", "source"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise DatasetError(f"{where}: {key!r} must be a string (got {_kind(record[key])})")
    return Example(
        input=text,
        label=cast(Label, label),
        stage=cast(Stage, stage),
        output=output,
        category=record.get("category"),
        tool_call=tool_call,
        line=number,
        id=record.get("id"),
        source=record.get("source"),
    )


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


__all__ = ["LABELS", "STAGES", "DatasetError", "Example", "Label", "Stage", "load_dataset"]
