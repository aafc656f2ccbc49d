"""Local HuggingFace models: a chat model over a transformers ``text-generation`` pipeline with
real token streaming (sync and async), cancellation and usage.

Each request runs the pipeline in its own worker thread with its own
:class:`AsyncTextIteratorStreamer`; text is yielded as tokens are produced. When the consumer
stops (a rail blocks, the client goes away, the task is cancelled) the request's stop flag is
set, a stopping criterion ends ``generate()`` at its next step, and the worker thread is joined.

Importing this module needs the ``hf`` extra (``transformers`` and ``torch``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from langchain_guardrails.errors import ConfigError, require

require("torch", "hf")
require("transformers", "hf")

from langchain_guardrails.llm.providers.hf_chat import HuggingFacePipelineCompatible, plain_prompt  # noqa: E402 - extra checked first
from langchain_guardrails.llm.providers.hf_streamer import THREAD_NAME, AsyncTextIteratorStreamer  # noqa: E402

if TYPE_CHECKING:
    from langchain_guardrails.config.rails_config import ModelConfig


def from_model_config(config: ModelConfig) -> HuggingFacePipelineCompatible:
    """The model of a ``config.yml`` entry with ``engine: huggingface_pipeline``.

    ``model`` is a local model folder (a hub id works where transformers can fetch it);
    ``parameters`` go to ``transformers.pipeline`` (``device``, ``max_new_tokens``,
    ``temperature``, ...), except ``timeout`` and ``pipeline_kwargs``, which set those fields.
    """
    where = f"models[type={config.type}]"
    if not config.model:
        raise ConfigError(
            f"{where}: engine 'huggingface_pipeline' needs `model`: the folder of a local "
            "transformers model"
        )
    path = Path(config.model).expanduser()
    if not path.exists() and (config.model.startswith((".", "~")) or path.is_absolute()):
        raise ConfigError(
            f"{where}: model folder {config.model!r} does not exist; set `model` to the folder "
            "of a local transformers model"
        )
    options = dict(config.parameters)
    timeout = options.pop("timeout", None)
    pipeline_kwargs = options.pop("pipeline_kwargs", None)
    return HuggingFacePipelineCompatible.from_model_id(
        str(path) if path.exists() else config.model,
        timeout=timeout,
        pipeline_kwargs=pipeline_kwargs,
        **options,
    )


__all__ = [
    "THREAD_NAME",
    "AsyncTextIteratorStreamer",
    "HuggingFacePipelineCompatible",
    "from_model_config",
    "plain_prompt",
]
