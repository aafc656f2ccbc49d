"""NeMo's ``huggingface detector check input|output $hf_model=<model_repo>``: a local
transformers text classifier (``rails.config.huggingface_detector.models``, ``hf`` extra).

The rail blocks when the model's top class on the text is one of ``blocked_classes`` (labels
or class indices), as NeMo's action decides. It runs on the ``hf classifier`` machinery
(:mod:`~langchain_guardrails.rails.classifier`): one shared, batching worker per model, and a
long text classified in pieces (NeMo truncates it at 512 tokens; here nothing is left out, and
any piece whose top class is blocked blocks). The model comes from ``model_path`` or the local
Hugging Face cache; nothing is downloaded.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

from langchain_guardrails.config.actions import ActionSpec, RailResult, build_spec
from langchain_guardrails.config.nemo_keys import NemoKeyWarning
from langchain_guardrails.config.rail_settings import HuggingfaceModel
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError
from langchain_guardrails.rails.classifier import Scores, load_classifier, split_pieces
from langchain_guardrails.rails.hf_models import (
    BatchWorker,
    model_folder,
    model_labels,
    require_hf,
    shared_worker,
)

Factory = Callable[[RailsConfig, Mapping[str, str]], ActionSpec]

_MAX_CHARS = 1000
"""Characters per piece classified (well inside a 512-token model's window)."""
_BATCH = 16


def huggingface_detector_check(rail: str) -> Factory:
    """Factory of ``huggingface detector check ... $hf_model=<model_repo>`` (the flow ``rail``)."""

    def factory(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
        entry, index = _entry(config, params, rail)
        key = f"huggingface_detector.models[{index}]"
        require_hf()
        folder = _folder(config, entry, key, rail)
        blocked = _blocked_labels(entry, model_labels(folder), key)
        if not blocked:
            warnings.warn(
                f"rails.config.{key}: blocked_classes is empty: {rail!r} allows every text "
                "(as in NeMo)",
                NemoKeyWarning,
                stacklevel=2,
            )
        device = entry.device or "cpu"
        worker: BatchWorker[str, Scores] = shared_worker(
            ("text-classification", str(folder.resolve()), device),
            lambda: BatchWorker(
                lambda: load_classifier(folder, device, _BATCH),
                batch_size=_BATCH,
                name=f"langchain-guardrails-hf-detector-{index}",
            ),
        )
        what = f"{entry.model_repo} ({entry.descriptor})" if entry.descriptor else entry.model_repo

        async def check(text: str) -> RailResult:
            if not blocked or not text.strip():
                return RailResult(allowed=True)
            for scores in await worker.run(split_pieces(text, _MAX_CHARS)):
                top = max(scores, key=lambda label: scores[label])
                if top in blocked:
                    return RailResult(
                        allowed=False,
                        reason=f"{rail}: {what} classified it as {top!r} (score {scores[top]:.3f})",
                        metadata={"model_repo": entry.model_repo, "categories": [top]},
                    )
            return RailResult(allowed=True)

        return build_spec(check, name=rail)

    return factory


def _entry(
    config: RailsConfig, params: Mapping[str, str], rail: str
) -> tuple[HuggingfaceModel, int]:
    extra = sorted(set(params) - {"hf_model"})
    if extra:
        raise ConfigError(f"{rail!r}: unknown parameter ${extra[0]}; known: $hf_model")
    models = config.rails.config.huggingface_detector.models
    configured = ", ".join(m.model_repo for m in models) or "none configured"
    repo = params.get("hf_model")
    if not repo:
        raise ConfigError(
            f"{rail!r} needs $hf_model=<model_repo> naming an entry of "
            f"rails.config.huggingface_detector.models (configured: {configured})"
        )
    for index, entry in enumerate(models):
        if entry.model_repo == repo:
            return entry, index
    raise ConfigError(
        f"{rail!r}: no model {repo!r} in rails.config.huggingface_detector.models "
        f"(configured: {configured})"
    )


def _folder(config: RailsConfig, entry: HuggingfaceModel, key: str, rail: str) -> Path:
    if entry.model_path:
        return model_folder(config, entry.model_path, key, rail)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(entry.model_repo, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        raise ConfigError(
            f"rails.config.{key}: model {entry.model_repo!r} is not in the local Hugging Face "
            "cache and has no model_path; nothing is downloaded: fetch it once (`hf download "
            f"{entry.model_repo}`) or set model_path to a local model folder"
        ) from exc


def _blocked_labels(entry: HuggingfaceModel, labels: list[str], key: str) -> frozenset[str]:
    """``blocked_classes`` as labels; an unknown label or index is an error naming the
    model's labels (NeMo finds out at the first call)."""
    blocked = set()
    for item in entry.blocked_classes:
        if isinstance(item, int):
            if not 0 <= item < len(labels):
                raise ConfigError(
                    f"rails.config.{key}.blocked_classes: class index {item} is out of range; "
                    f"the model has {len(labels)} classes: {', '.join(labels)}"
                )
            blocked.add(labels[item])
        elif item in labels:
            blocked.add(item)
        else:
            raise ConfigError(
                f"rails.config.{key}.blocked_classes: the model has no label {item!r}; its "
                f"labels: {', '.join(labels)}"
            )
    return frozenset(blocked)


__all__ = ["huggingface_detector_check"]
