"""``instructions`` (``type: general``) as the system message of main-model calls.

The rule, as NeMo Guardrails applies its general instructions:

* the content of the **first** ``instructions`` entry with ``type: general`` is the system
  message (NeMo uses the first one too; other types are ignored here);
* it is put **first**, before the conversation, when the messages hold **no** system message;
* when the messages already hold a system message (the caller's, or one added by an earlier
  turn), nothing is added: the caller's system message wins and instructions are never
  duplicated;
* the caller's list and messages are never modified: a new list is returned.

Example:
    .. code-block:: python

        config = RailsConfig.from_content(yaml_content='''
        instructions:
          - type: general
            content: You are a helpful assistant of ACME Corp.
        ''')
        apply_instructions(config, [HumanMessage("Hi")])
        # [SystemMessage("You are a helpful assistant of ACME Corp."), HumanMessage("Hi")]
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import BaseMessage, SystemMessage

from langchain_guardrails.config.rails_config import RailsConfig


def general_instructions(config: RailsConfig) -> str | None:
    """The content of the first ``type: general`` instruction without surrounding whitespace,
    if any (blank counts as none).

    Example:
        .. code-block:: python

            general_instructions(config)  # "You are a helpful assistant of ACME Corp."
    """
    for instruction in config.instructions:
        if instruction.type == "general":
            # A YAML block scalar ends with a newline; the system message does not need it.
            return instruction.content.strip() or None
    return None


def apply_instructions(config: RailsConfig, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """``messages`` with the general instructions as a leading system message (see the rule
    in the module docstring); a new list, the input is untouched.

    Example:
        .. code-block:: python

            messages = apply_instructions(config, to_messages("Hi"))
    """
    out = list(messages)
    text = general_instructions(config)
    if text is None or any(m.type == "system" for m in out):
        return out
    return [SystemMessage(content=text), *out]


__all__ = ["apply_instructions", "general_instructions"]
