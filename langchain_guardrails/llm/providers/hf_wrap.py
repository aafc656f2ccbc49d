"""Recognise a LangChain ``HuggingFacePipeline`` without importing transformers.

``Guardrails(llm=HuggingFacePipeline(...))`` should stream token by token, which LangChain's
class does not do asynchronously; :func:`wrap_pipeline_llm` swaps in a
:class:`~langchain_guardrails.llm.providers.huggingface.HuggingFacePipelineCompatible` over the
same pipeline. Any other model comes back unchanged.
"""

from __future__ import annotations

import sys
from typing import Any


def is_pipeline_llm(llm: Any) -> bool:
    """Whether ``llm`` wraps a transformers ``text-generation`` pipeline in ``.pipeline``
    (``langchain_huggingface.HuggingFacePipeline`` or the older community class; duck-typed)."""
    pipe = getattr(llm, "pipeline", None)
    if pipe is None or not type(pipe).__module__.startswith("transformers."):
        return False
    ours = sys.modules.get(f"{__package__}.hf_chat")
    if ours is not None and isinstance(llm, ours.HuggingFacePipelineCompatible):
        return False
    return getattr(pipe, "task", None) == "text-generation"


def wrap_pipeline_llm(llm: Any) -> Any:
    """``llm`` itself, or a streaming ``HuggingFacePipelineCompatible`` over its pipeline.

    Example:
        .. code-block:: python

            llm = wrap_pipeline_llm(HuggingFacePipeline(pipeline=pipe))
    """
    if not is_pipeline_llm(llm):
        return llm
    from langchain_guardrails.llm.providers.huggingface import HuggingFacePipelineCompatible

    return HuggingFacePipelineCompatible.from_llm(llm)
