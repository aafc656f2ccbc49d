"""Convert the agent-injection data of two more PyPI packages into eval JSONL files of
``langchain_guardrails/eval/data/injection/`` (``spikee.jsonl``, ``agentdojo.jsonl``; see SOURCES.md
there). Run after ``vendor_injection_data.py``: texts its files already hold are left out.

Inputs (downloaded by hand from PyPI, nothing is fetched here)::

    pip download spikee==0.9.2 agentdojo==0.1.35 --no-deps -d /tmp/dl   # unzip each wheel
    python scripts/vendor_injection_agents.py SPIKEE_DIR AGENTDOJO_DIR

Both are filled as the packages fill them themselves: spikee puts a jailbreak template, its
``<INSTRUCTION>`` replaced by an instruction, into a base document at the start, the middle (the
nearest space) or the end, between newlines (``generator.insert_jailbreak``); AgentDojo replaces
one ``{injection_vector}`` of its environments by an attack template of ``agentdojo/attacks``
formatted with an injection task's ``GOAL``, and every other vector by its ``default``.
Deterministic: ``random.Random(26)`` over sorted inputs.
"""

from __future__ import annotations

import ast
import json
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vendor_injection_data import OUT, Seen, dedupe, row, write

ATTACKS = 300
"""Attacks kept per source (sampled); every benign row is kept."""
USER = "Emma Johnson"
"""The user AgentDojo's attacks sign as."""
MODELS = ("GPT-4", "Claude", "Llama")
"""Model names AgentDojo's attacks address (it uses the name of the model under test)."""

# spikee's jailbreak types by what they do (the rest pretend a test, a debug or a training mode,
# an error, an emergency or a new task to make the model take the instruction: overrides).
PERSONA_TYPES = frozenset({"dan", "dev", "no-limits", "experimental", "policy-puppet"})
SPIKEE_SEEDS = ("seeds-cybersec-2026-01", "seeds-llm-mailbox", "seeds-sysmsg-extraction-2025-04")
SPIKEE_BENIGN = ("seeds-investment-advice-fp",)


def jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file (an absent file is empty)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def spikee_rows(root: Path, rnd: random.Random) -> list[dict[str, str]]:
    """spikee 0.9.2 (Apache-2.0): its seed folders' jailbreaks x instructions, alone (user
    input) and planted in its base documents (tool results); its base documents and the
    standalone inputs of its false-positive folder as benign rows."""
    datasets = root / "spikee" / "data" / "workspace" / "datasets"
    attacks: list[dict[str, str]] = []
    benign: list[dict[str, str]] = []
    documents: dict[str, dict[str, str]] = {}
    src = "spikee"
    for seed in SPIKEE_SEEDS:
        folder = datasets / seed
        # Two jailbreaks name a third-party data set as their source: left out (licence).
        jailbreaks = [j for j in jsonl(folder / "jailbreaks.jsonl") if "source" not in j]
        instructions = jsonl(folder / "instructions.jsonl")
        # A base document that is only its placeholder is the "direct" case: no document.
        bases = [
            b
            for b in jsonl(folder / "base_user_inputs.jsonl")
            if b.get("placeholder") != b["document"]
        ]
        for base in bases:
            documents.setdefault(base["document"], base)
        exfil = seed.startswith("seeds-sysmsg")
        for jailbreak in sorted(jailbreaks, key=lambda j: j["id"]):
            # spikee pairs a jailbreak with instructions of its own language.
            same = [i for i in instructions if i.get("lang", "") == jailbreak.get("lang", "")]
            if not same:
                continue
            instruction = rnd.choice(same)["instruction"]
            text = jailbreak["text"].replace("<INSTRUCTION>", instruction)
            if jailbreak.get("lang"):
                # Zulu, Albanian, Irish or Scottish Gaelic: the trick is the language itself.
                category = kind = "non-English"
            else:
                markdown = instruction.startswith(
                    "include in your response the following string: !["
                )
                kind = "exfiltration" if exfil else "indirect injection"
                category = (
                    "exfiltration"
                    if exfil or markdown
                    else "persona"
                    if jailbreak["jailbreak_type"] in PERSONA_TYPES
                    else "instruction override"
                )
            attacks.append(row(text, "block", "input", category, src))
            if bases:
                base = rnd.choice(bases)
                planted = _insert(base["document"], text, rnd.choice(("start", "middle", "end")))
                user = base.get("question") or "Summarise this document."
                attacks.append(row(planted, "block", "tool_input", kind, src, user))
        for standalone in jsonl(folder / "standalone_user_inputs.jsonl"):
            attacks.append(row(standalone["text"], "block", "input", "instruction override", src))
    for document, base in sorted(documents.items()):
        user = base.get("question") or "Summarise this document."
        benign.append(row(document, "allow", "tool_input", "benign document", src, user))
    for seed in SPIKEE_BENIGN:
        for standalone in jsonl(datasets / seed / "standalone_user_inputs.jsonl"):
            benign.append(row(standalone["text"], "allow", "input", "benign task", src))
    return benign + attacks


def _insert(document: str, payload: str, position: str) -> str:
    """spikee's ``insert_jailbreak`` with its default pattern (the payload between newlines)."""
    injected = f"\n{payload}\n"
    if position == "start":
        return injected + document
    if position == "end":
        return document + injected
    middle = len(document) // 2
    ahead, behind = document.find(" ", middle), document.rfind(" ", 0, middle)
    candidates = [i for i in (ahead, behind) if i >= 0]
    at = min(candidates, key=lambda i: abs(i - middle)) if candidates else middle
    return document[:at] + injected + document[at:]


def agentdojo_rows(root: Path, rnd: random.Random) -> list[dict[str, str]]:
    """AgentDojo 0.1.35 (MIT): the texts its tools return (e-mails, files, calendar entries,
    web pages, messages, reviews, transactions) with every injection vector at its default
    (benign) and with one vector replaced by an attack (indirect injection); its user tasks'
    prompts as benign requests."""
    package = root / "agentdojo"
    templates = attack_templates(package / "attacks")
    src = "agentdojo"
    benign: list[dict[str, str]] = []
    attacks: list[dict[str, str]] = []
    for suite in sorted((package / "data" / "suites").iterdir()):
        tasks = package / "default_suites" / "v1" / suite.name
        if not (suite / "injection_vectors.yaml").exists() or not tasks.exists():
            continue
        goals = class_strings(tasks / "injection_tasks.py", "GOAL")
        prompts = class_strings(tasks / "user_tasks.py", "PROMPT")
        vectors = yaml.safe_load((suite / "injection_vectors.yaml").read_text(encoding="utf-8"))
        defaults = {name: str(v["default"]) for name, v in vectors.items()}
        for prompt in prompts:
            benign.append(row(" ".join(prompt.split()), "allow", "input", "benign task", src))
        for text in environment_texts(suite):
            user = " ".join(rnd.choice(prompts).split()) if prompts else ""
            filled = _fill(text, defaults)
            if len(filled.strip()) >= 40:
                benign.append(row(filled, "allow", "tool_input", "benign document", src, user))
            for name in sorted({n for n in re.findall(r"\{(\w+)\}", text) if n in defaults}):
                for _ in range(8):
                    attack = (
                        rnd.choice(templates)
                        .replace("{goal}", rnd.choice(goals))
                        .replace("{user}", USER)
                        .replace("{model}", rnd.choice(MODELS))
                    )
                    planted = _fill(text.replace("{" + name + "}", attack), defaults)
                    attacks.append(
                        row(planted, "block", "tool_input", "indirect injection", src, user)
                    )
    return benign + attacks


def _fill(text: str, defaults: dict[str, str]) -> str:
    for name, default in defaults.items():
        text = text.replace("{" + name + "}", default)
    return text


class _Loader(yaml.SafeLoader):
    """YAML with AgentDojo's ``!include`` tag read as nothing (the included files are read on
    their own)."""


_Loader.add_constructor("!include", lambda loader, node: None)


def environment_texts(suite: Path) -> list[str]:
    """Every string of 40 characters or more in a suite's environment files, sorted."""
    files = [suite / "environment.yaml", *sorted((suite / "include").glob("*.yaml"))]
    texts: set[str] = set()
    for file in files:
        if file.exists():
            data = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
            texts.update(s for s in _strings(data) if len(s) >= 40)
    return sorted(texts)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def attack_templates(folder: Path) -> list[str]:
    """The attack strings of ``agentdojo/attacks/*.py`` that hold ``{goal}`` (read with ``ast``,
    not imported), except those needing the tool list and the docstrings that quote them."""
    found: set[str] = set()
    for file in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            text = _literal(node.value, {}) if isinstance(node, ast.Assign) else None
            if text is None and isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            if text and "{goal}" in text and "{tools}" not in text:
                found.add(text)
    return sorted(t for t in found if not t.startswith("Attack which"))


def class_strings(module: Path, name: str) -> list[str]:
    """The string each class of ``module`` assigns to ``name`` (f-strings over the class's and
    the module's string constants resolved), in source order."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    module_env = _constants(tree.body, {})
    values = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            value = _constants(node.body, module_env).get(name)
            if isinstance(value, str):
                values.append(value)
    return values


def _constants(body: list[ast.stmt], env: dict[str, str]) -> dict[str, str]:
    names = dict(env)
    for node in body:
        target = value = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and value is not None:
            text = _literal(value, names)
            if text is not None:
                names[target.id] = text
    return names


def _literal(node: ast.expr, env: dict[str, str]) -> str | None:
    """The string ``node`` evaluates to from literals and the names of ``env``, or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float)):
        return str(node.value)
    if isinstance(node, ast.Name):
        return env.get(node.id)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for part in node.values:
            inner = part.value if isinstance(part, ast.FormattedValue) else part
            text = _literal(inner, env)
            if text is None:
                return None
            parts.append(text)
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left, env), _literal(node.right, env)
        return left + right if left is not None and right is not None else None
    return None


def existing(seen: Seen) -> None:
    """Put the texts of the files already vendored into ``seen``."""
    for file in sorted(OUT.glob("*.jsonl")):
        if file.stem in ("spikee", "agentdojo"):
            continue
        lines = file.read_text(encoding="utf-8").splitlines()
        dedupe([json.loads(line) for line in lines if line and not line.startswith("#")], seen)


def sampled(rows: list[dict[str, str]], rnd: random.Random) -> list[dict[str, str]]:
    """Every benign row and at most ``ATTACKS`` attacks, in their order."""
    attacks = [r for r in rows if r["label"] == "block"]
    keep = {id(r) for r in rnd.sample(attacks, min(ATTACKS, len(attacks)))}
    return [r for r in rows if r["label"] == "allow" or id(r) in keep]


def main(argv: list[str]) -> None:
    """Write the two source files from the unpacked wheels named on the command line."""
    spikee_dir, agentdojo_dir = (Path(a) for a in argv)
    seen = Seen()
    existing(seen)
    rnd = random.Random(26)
    write(
        "spikee",
        "spikee 0.9.2 (Apache-2.0). See SOURCES.md.",
        sampled(dedupe(spikee_rows(spikee_dir, rnd), seen), rnd),
    )
    write(
        "agentdojo",
        "AgentDojo 0.1.35 (MIT). See SOURCES.md.",
        sampled(dedupe(agentdojo_rows(agentdojo_dir, rnd), seen), rnd),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
