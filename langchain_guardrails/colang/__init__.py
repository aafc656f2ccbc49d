"""Colang 1.0 rail flows: the subset NeMo Guardrails users write their own input, output and
tool rails in, parsed with line numbers (``parser``), its expressions evaluated without
``eval`` (``expressions``), and a rail flow run to its verdict (``interpreter``).

A rail flow blocks when it reaches ``stop``; its last ``bot`` message is the refusal. Dialog
rails (``define user`` intents, ``user ...`` lines, ``when``) and Colang 2.x are refused at load
with an error naming the file, the line and the construct.

Imports: ``errors`` only (``config`` parses ``.co`` files with it at load; ``engine`` runs the
flows).
"""

from __future__ import annotations

from langchain_guardrails.colang.interpreter import ActionCall, Outcome, run_flow
from langchain_guardrails.colang.nodes import (
    Assign,
    Bot,
    BotDefinition,
    ColangProgram,
    CreateEvent,
    Do,
    Execute,
    FlowDefinition,
    If,
    Statement,
    Stop,
)
from langchain_guardrails.colang.parser import parse_colang

__all__ = [
    "ActionCall",
    "Assign",
    "Bot",
    "BotDefinition",
    "ColangProgram",
    "CreateEvent",
    "Do",
    "Execute",
    "FlowDefinition",
    "If",
    "Outcome",
    "Statement",
    "Stop",
    "parse_colang",
    "run_flow",
]
