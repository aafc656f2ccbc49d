"""HF classifier rails on a tiny offline model (any text with ``!`` is ``toxic``)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from langchain_guardrails import ConfigError, Guardrails, RailsConfig
from langchain_guardrails.actions import action
from langchain_guardrails.rails.classifier import split_pieces
from langchain_guardrails.rails.hf_models import _WORKERS, BatchWorker
from langchain_guardrails.testing import FakeStreamingChatModel

from .conftest import REFUSAL, RecordingChatModel, streaming


def classifier_config(
    folder: Path | str,
    *,
    flows_in: list[str] | None = None,
    flows_out: list[str] | None = None,
    stream: dict[str, Any] | None = None,
    **settings: Any,
) -> RailsConfig:
    output: dict[str, Any] = {"flows": flows_out or []}
    if stream is not None:
        output["streaming"] = stream
    return RailsConfig.from_content(
        config={
            "rails": {
                "input": {"flows": flows_in or []},
                "output": output,
                "config": {
                    "classifiers": {
                        "toxicity": {
                            "model_path": str(folder),
                            "block_labels": ["toxic"],
                            **settings,
                        }
                    }
                },
            }
        }
    )


def worker_of(folder: Path) -> BatchWorker[Any, Any]:
    return _WORKERS[("text-classification", str(folder.resolve()), "cpu")]


@pytest.mark.parametrize(("text", "blocked"), [("You are great.", False), ("You idiot!", True)])
async def test_input_classifier_allows_and_blocks(
    tiny_classifier: Path, text: str, blocked: bool
) -> None:
    config = classifier_config(
        tiny_classifier, flows_in=["hf classifier check input $classifier=toxicity"]
    )
    guarded = Guardrails(llm=RecordingChatModel(chunks=["ok"]), config=config)
    result = await guarded.ainvoke(text)
    assert (result.content == REFUSAL) is blocked
    if blocked:
        assert result.response_metadata["guardrails"] == {
            "blocked": True,
            "stage": "input",
            "rail": "hf classifier check input $classifier=toxicity",
            "reason": "classifier 'toxicity': toxic scored 1.000 (threshold 0.5)",
            "type": "guardrails_violation",
            "classifier": "toxicity",
            "score": 1.0,
            "threshold": 0.5,
            "categories": ["toxic"],
            "scores": {"toxic": 1.0},
        }


@pytest.mark.parametrize("stream_first", [True, False])
async def test_output_classifier_checks_windows_in_both_modes(
    tiny_classifier: Path, stream_first: bool
) -> None:
    config = classifier_config(
        tiny_classifier,
        flows_out=["hf classifier check output $classifier=toxicity"],
        stream=streaming(stream_first=stream_first, chunk_size=3),
    )
    calm = ["All ", "is ", "well ", "here, ", "friend."]
    rude = ["All ", "is ", "well, ", "you ", "fool! ", "Bye."]
    ok = Guardrails(llm=FakeStreamingChatModel(chunks=calm), config=config)
    assert "".join([c.content async for c in ok.astream("hi")]) == "".join(calm)
    bad = Guardrails(llm=FakeStreamingChatModel(chunks=rude), config=config)
    chunks = [c async for c in bad.astream("hi")]
    assert chunks[-1].content == REFUSAL
    assert "fool!" not in "".join(c.content for c in chunks[:-1]) or stream_first
    assert bad.invoke("hi").content == REFUSAL


@pytest.mark.parametrize(("text", "status"), [("You are great.", "passed"), ("Idiot!", "blocked")])
async def test_a_classifier_cascade_decides_alone_on_confident_scores(
    tiny_classifier: Path, text: str, status: str
) -> None:
    # The tiny model scores 0 or 1: never in the band, so the judge is never asked.
    asked: list[str] = []

    @action(name="judge")
    def judge(text: str) -> bool:
        asked.append(text)
        return True

    flow = "hf classifier check input $classifier=toxicity $escalate=judge $low=0.2 $high=0.8"
    config = classifier_config(tiny_classifier, flows_in=[flow])
    guarded = Guardrails(llm=RecordingChatModel(chunks=["ok"]), config=config, actions=[judge])
    result = await guarded.acheck(text)
    assert result.status == status
    assert asked == []
    if status == "blocked":
        assert (result.metadata["decided_by"], result.metadata["score"]) == ("cheap", 1.0)


async def test_long_texts_are_checked_in_pieces_so_truncation_hides_nothing(
    tiny_classifier: Path,
) -> None:
    # The model reads 256 characters at most; the "!" sits near character 2000.
    text = "calm words " * 180 + "then a rude one!"
    config = classifier_config(
        tiny_classifier, flows_in=["hf classifier check input $classifier=toxicity"], max_chars=200
    )
    result = await Guardrails(llm=RecordingChatModel(chunks=["ok"]), config=config).ainvoke(text)
    assert result.content == REFUSAL


def test_split_pieces_cuts_at_whitespace_and_keeps_all_text() -> None:
    text = "aaaa bbbb cccc dddd"
    assert split_pieces(text, 10) == ["aaaa bbbb", " cccc dddd"]
    assert "".join(split_pieces("x" * 25, 10)) == "x" * 25
    assert split_pieces("", 10) == []
    assert split_pieces("   ", 10) == []


async def test_fifty_concurrent_streams_share_one_loaded_pipeline(tiny_classifier: Path) -> None:
    config = classifier_config(
        tiny_classifier,
        flows_out=["hf classifier check output $classifier=toxicity"],
        stream=streaming(stream_first=False, chunk_size=2),
    )
    replies = [[f"reply {i} ", "is ", "fine", "!" if i % 10 == 0 else "."] for i in range(50)]
    streams = [Guardrails(llm=FakeStreamingChatModel(chunks=r), config=config) for r in replies]
    worker = worker_of(tiny_classifier)
    calls_before = worker.calls

    async def run(guarded: Guardrails) -> str:
        return "".join([c.content async for c in guarded.astream("hi")])

    results = await asyncio.gather(*(run(g) for g in streams))
    for index, text in enumerate(results):
        # A blocked stream released its first window's new unit, then the refusal.
        blocked = f"reply {index} \n\n{REFUSAL}"
        assert text == (blocked if index % 10 == 0 else "".join(replies[index]))
    assert worker.loads == 1
    assert worker is worker_of(tiny_classifier)  # one worker (one pipeline) per model folder
    # 50 streams x 2 windows were checked in fewer, batched model calls.
    assert worker.calls - calls_before < 100
    assert worker.largest_batch > 1


@pytest.mark.parametrize(
    ("flow", "settings", "message"),
    [
        (
            "hf classifier check input",
            {},
            "'hf classifier check input' needs $classifier=<name> naming an entry of "
            "rails.config.classifiers (configured: toxicity)",
        ),
        (
            "hf classifier check input $classifier=spam",
            {},
            "'hf classifier check input': no classifier 'spam' in rails.config.classifiers "
            "(configured: toxicity)",
        ),
        (
            "hf classifier check output $classifier=toxicity $threshold=0.2",
            {},
            "'hf classifier check output': unknown parameter $threshold; known: $classifier",
        ),
        (
            "hf classifier check input $classifier=toxicity",
            {"block_labels": ["TOXIC"]},
            "rails.config.classifiers.toxicity.block_labels: the model has no label 'TOXIC'; its "
            "labels: safe, toxic",
        ),
    ],
)
def test_classifier_config_errors(
    tiny_classifier: Path, flow: str, settings: dict[str, Any], message: str
) -> None:
    stage = "output" if "output" in flow else "input"
    config = classifier_config(
        tiny_classifier, **{f"flows_{'out' if stage == 'output' else 'in'}": [flow]}, **settings
    )
    with pytest.raises(ConfigError) as error:
        Guardrails(llm=RecordingChatModel(), config=config)
    assert str(error.value) == message


def test_a_missing_classifier_model_path_is_a_clear_error(tmp_path: Path) -> None:
    config = classifier_config(
        tmp_path / "gone", flows_in=["hf classifier check input $classifier=toxicity"]
    )
    with pytest.raises(ConfigError) as error:
        Guardrails(llm=RecordingChatModel(), config=config)
    assert str(error.value) == (
        f"rails.config.classifiers.toxicity.model_path: {tmp_path / 'gone'} does not exist or is "
        "not a folder (a local transformers model folder is needed; nothing is downloaded)"
    )


def test_classifier_settings_are_validated() -> None:
    with pytest.raises(ConfigError) as error:
        RailsConfig.from_content(
            config={
                "rails": {
                    "config": {
                        "classifiers": {
                            "x": {"model_path": "m", "block_labels": [], "threshold": 2}
                        }
                    }
                }
            }
        )
    assert str(error.value) == (
        "<config dict>:5: rails.config.classifiers.x.block_labels: List should have at least 1 "
        "item after validation, not 0 (got [])\n"
        "<config dict>:7: rails.config.classifiers.x.threshold: Input should be less than or "
        "equal to 1 (got 2)"
    )


def test_an_unreadable_model_config_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    config = classifier_config(
        tmp_path, flows_in=["hf classifier check input $classifier=toxicity"]
    )
    with pytest.raises(ConfigError) as error:
        Guardrails(llm=RecordingChatModel(), config=config)
    assert str(error.value) == (
        f"{tmp_path / 'config.json'}: cannot read the model's labels: Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1)"
    )


async def test_the_batch_worker_batches_concurrent_requests_and_reports_errors() -> None:
    release = threading.Event()
    batches: list[list[str]] = []

    def load() -> Any:
        def run(items: list[str]) -> list[int]:
            release.wait(5)
            batches.append(list(items))
            if "boom" in items:
                raise RuntimeError("model failed")
            return [len(item) for item in items]

        return run

    worker: BatchWorker[str, int] = BatchWorker(load, batch_size=8)
    first = asyncio.ensure_future(worker.run(["a"]))
    await asyncio.sleep(0.05)  # the worker is busy with the first request...
    rest = [asyncio.ensure_future(worker.run([word])) for word in ("bb", "ccc", "dddd")]
    await asyncio.sleep(0.05)
    release.set()  # ...so the next three arrive together
    assert await first == [1]
    assert await asyncio.gather(*rest) == [[2], [3], [4]]
    assert batches == [["a"], ["bb", "ccc", "dddd"]]
    assert (worker.loads, worker.calls, worker.largest_batch) == (1, 2, 3)
    with pytest.raises(RuntimeError, match="model failed"):
        await worker.run(["boom"])
    assert await worker.run([]) == []
