"""NeMo's ``huggingface detector check input|output $hf_model=...`` on a tiny local classifier
(labels ``safe`` / ``toxic``; any text with ``!`` is ``toxic``), from ``model_path`` or from
the local Hugging Face cache; nothing is downloaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from langchain_guardrails import ConfigError, Guardrails, RailsConfig
from langchain_guardrails.config.nemo_keys import NemoKeyWarning
from langchain_guardrails.testing import FakeStreamingChatModel

from .conftest import REFUSAL

pytest.importorskip("transformers")

REPO = "acme/tiny-toxicity"
INPUT_FLOW = f'  input:\n    flows:\n      - huggingface detector check input $hf_model="{REPO}"'


def config_for(models: str, flows: str) -> RailsConfig:
    return RailsConfig.from_content(
        yaml_content=f"rails:\n{flows}\n  config:\n    huggingface_detector:\n"
        f"      models:\n{models}"
    )


def entry(folder: Path | None, blocked: str, **extra: str) -> str:
    lines = [f'        - model_repo: "{REPO}"', f"          blocked_classes: {blocked}"]
    if folder is not None:
        lines.append(f"          model_path: {folder}")
    lines += [f"          {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def guard(cfg: RailsConfig, reply: str = "Fine.") -> Guardrails:
    return Guardrails(llm=FakeStreamingChatModel(chunks=[reply]), config=cfg)


@pytest.mark.parametrize("blocked", ['["toxic"]', "[1]"])
async def test_input_blocks_when_the_top_class_is_blocked(
    tiny_classifier: Path, blocked: str
) -> None:
    cfg = config_for(entry(tiny_classifier, blocked, descriptor='"Toxicity detector"'), INPUT_FLOW)
    guarded = guard(cfg)
    assert (await guarded.ainvoke("hello there")).content == "Fine."
    blocked_answer = await guarded.ainvoke("hello there!")
    meta = blocked_answer.response_metadata["guardrails"]
    assert (blocked_answer.content, meta["categories"], meta["model_repo"]) == (
        REFUSAL,
        ["toxic"],
        REPO,
    )
    assert meta["reason"] == (
        f"huggingface detector check input: {REPO} (Toxicity detector) classified it as "
        "'toxic' (score 1.000)"
    )


async def test_output_rail_checks_the_answer(tiny_classifier: Path) -> None:
    cfg = config_for(
        entry(tiny_classifier, '["toxic"]'),
        f'  output:\n    flows:\n      - huggingface detector check output $hf_model="{REPO}"',
    )
    assert (await guard(cfg, "calm words").ainvoke("hi")).content == "calm words"
    assert (await guard(cfg, "angry words!").ainvoke("hi")).content == REFUSAL


async def test_the_model_is_found_in_the_local_hugging_face_cache(
    tiny_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    repo_folder = tmp_path / "models--acme--tiny-toxicity"
    shutil.copytree(tiny_classifier, repo_folder / "snapshots" / "abc123")
    (repo_folder / "refs").mkdir()
    (repo_folder / "refs" / "main").write_text("abc123", encoding="utf-8")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    cfg = config_for(entry(None, "[1]"), INPUT_FLOW)
    assert (await guard(cfg).ainvoke("stop!")).content == REFUSAL


def test_a_model_neither_cached_nor_local_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ConfigError) as error:
        guard(config_for(entry(None, "[1]"), INPUT_FLOW))
    assert str(error.value) == (
        f"rails.config.huggingface_detector.models[0]: model '{REPO}' is not in the local "
        "Hugging Face cache and has no model_path; nothing is downloaded: fetch it once (`hf "
        f"download {REPO}`) or set model_path to a local model folder"
    )


@pytest.mark.parametrize(
    ("blocked", "flow", "message"),
    [
        (
            '["INJECTION"]',
            f'huggingface detector check input $hf_model="{REPO}"',
            "rails.config.huggingface_detector.models[0].blocked_classes: the model has no "
            "label 'INJECTION'; its labels: safe, toxic",
        ),
        (
            "[2]",
            f'huggingface detector check input $hf_model="{REPO}"',
            "rails.config.huggingface_detector.models[0].blocked_classes: class index 2 is out "
            "of range; the model has 2 classes: safe, toxic",
        ),
        (
            "[1]",
            'huggingface detector check input $hf_model="other/model"',
            "'huggingface detector check input': no model 'other/model' in "
            f"rails.config.huggingface_detector.models (configured: {REPO})",
        ),
        (
            "[1]",
            "huggingface detector check input",
            "'huggingface detector check input' needs $hf_model=<model_repo> naming an entry of "
            f"rails.config.huggingface_detector.models (configured: {REPO})",
        ),
        (
            "[1]",
            f'huggingface detector check input $hf_model="{REPO}" $x=1',
            "'huggingface detector check input': unknown parameter $x; known: $hf_model",
        ),
    ],
)
def test_bad_detector_settings_are_clear_errors(
    tiny_classifier: Path, blocked: str, flow: str, message: str
) -> None:
    cfg = config_for(entry(tiny_classifier, blocked), f"  input:\n    flows:\n      - '{flow}'")
    with pytest.raises(ConfigError) as error:
        guard(cfg)
    assert str(error.value) == message


async def test_no_blocked_classes_allows_everything_with_a_warning(tiny_classifier: Path) -> None:
    cfg = config_for(entry(tiny_classifier, "[]"), INPUT_FLOW)
    with pytest.warns(NemoKeyWarning) as caught:
        guarded = guard(cfg)
    assert [str(w.message) for w in caught] == [
        "rails.config.huggingface_detector.models[0]: blocked_classes is empty: 'huggingface "
        "detector check input' allows every text (as in NeMo)"
    ]
    assert (await guarded.ainvoke("stop!")).content == "Fine."
