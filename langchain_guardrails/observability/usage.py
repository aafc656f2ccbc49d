"""Usage of a stream that a block stopped: estimate the prompt tokens the provider never reported.

Providers such as OpenAI report usage on the *last* chunk of a stream, which a stream closed by
a block never receives. The completion side is known (the units received count as output
tokens, see :meth:`~langchain_guardrails.streaming.chunks.StreamTally.stop_usage`); the prompt side
is estimated here, once per stopped stream, in this order:

1. the model's ``custom_get_token_ids`` (a tokenizer the user set on the model: local code);
2. otherwise about four characters per token (OpenAI's rule of thumb for English), rounded up
   per message.

The model's own ``get_num_tokens_from_messages`` is deliberately *not* used: for OpenAI models
it loads tiktoken encodings (downloaded on first use), other providers call a counting API or
download a GPT-2 tokenizer, and none of that may hang the end of a stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage

CHARS_PER_TOKEN = 4


def estimate_prompt_tokens(model: Any, messages: Sequence[BaseMessage]) -> int:
    """Prompt tokens of ``messages`` for ``model``, offline and without network calls.

    Example:
        .. code-block:: python

            from langchain_core.messages import HumanMessage

            estimate_prompt_tokens(my_model, [HumanMessage("hello there")])  # 3
    """
    texts = [message.text for message in messages]
    tokenize = getattr(model, "custom_get_token_ids", None)
    if callable(tokenize):
        try:
            return sum(len(tokenize(text)) for text in texts)
        except Exception:
            pass
    return sum(-(-len(text) // CHARS_PER_TOKEN) for text in texts)


__all__ = ["CHARS_PER_TOKEN", "estimate_prompt_tokens"]
