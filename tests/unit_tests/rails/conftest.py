"""Doubles for the built-in rails' tests: a chat model that answers check prompts and records
what it received, a ``rails_test`` engine to name such models in ``config.yml``, and tiny
random-weight transformers models built offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from pydantic import Field

from langchain_guardrails import RailsConfig
from langchain_guardrails.llm import register_engine
from langchain_guardrails.testing import FakeStreamingChatModel

REFUSAL = "I'm sorry, I can't respond to that."


class RecordingChatModel(FakeStreamingChatModel):
    """Answers a prompt containing a ``rules`` key with that rule's answer (one chunk), any
    other prompt with ``chunks``; records every prompt it received (test-only state)."""

    rules: dict[str, str] = Field(default_factory=dict)
    received: list[list[BaseMessage]] = Field(default_factory=list)
    options: list[dict[str, Any]] = Field(default_factory=list)
    """``stop`` and extra keyword arguments of each call."""
    model_name: str = "guard-model"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Any:
        self.options.append({"stop": stop, **kwargs})
        return super()._generate(messages, stop, run_manager, **kwargs)

    def reply_chunks(self, messages: list[BaseMessage]) -> list[str]:
        self.received.append(list(messages))
        text = "\n".join(m.text for m in messages)
        for needle, answer in self.rules.items():
            if needle in text:
                return [answer]
        return list(self.chunks)

    def prompts(self) -> list[str]:
        """The text of each check prompt received (the conversation calls left out)."""
        return [
            "\n".join(m.text for m in call)
            for call in self.received
            if any(needle in "\n".join(m.text for m in call) for needle in self.rules)
        ]


MODELS: dict[str, RecordingChatModel] = {}
"""Models that ``engine: rails_test`` entries name by ``model:``."""

register_engine("rails_test", lambda cfg: MODELS[cfg.model or ""])


@pytest.fixture
def named_models() -> Iterator[dict[str, RecordingChatModel]]:
    """Register models for ``engine: rails_test``; cleared after the test."""
    yield MODELS
    MODELS.clear()


def make_config(yaml_content: str, **sections: Any) -> RailsConfig:
    return RailsConfig.from_content(yaml_content=yaml_content, config=sections or None)


def streaming(*, stream_first: bool, chunk_size: int = 4, context_size: int = 1) -> dict[str, Any]:
    return {
        "enabled": True,
        "chunk_size": chunk_size,
        "context_size": context_size,
        "stream_first": stream_first,
    }


# -- tiny transformers models -------------------------------------------------------------

CHARS = (
    " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?:;'\"-<>/\n()|_@=+*#%&[]{}"
)


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<eos>", "<pad>"]
    vocab = {token: index for index, token in enumerate(specials + list(CHARS))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        eos_token="<eos>",
        pad_token="<pad>",
        model_max_length=256,
        clean_up_tokenization_spaces=False,
    )


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random GPT-2 with a character tokenizer, saved to a folder."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tokenizer = _tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=1, eos_token_id=1, pad_token_id=2,
    )  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random BERT classifier (labels ``safe`` / ``toxic``) with a character tokenizer,
    whose output is decided by one character: any text containing ``!`` is ``toxic``."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = _tokenizer()
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=256, pad_token_id=2,
        id2label={0: "safe", 1: "toxic"}, label2id={"safe": 0, "toxic": 1},
    )  # fmt: skip
    model = BertForSequenceClassification(config)
    _make_bang_toxic(model, tokenizer.convert_tokens_to_ids("!"))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _make_bang_toxic(model: Any, bang: int) -> None:
    """Wire the network so the first position sees whether a ``!`` is anywhere in the text.

    Every token embeds as the same vector except ``!``, which adds to dimension 0. The first
    attention layer averages all positions (zero queries and keys: uniform attention) into the
    first one; every other sub-layer is an identity. Without ``!`` dimensions 0 and 2 of the
    first position are equal; with one, dimension 0 is larger, which the pooler and classifier
    turn into a large ``toxic`` logit.
    """
    import torch

    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        embeddings = model.bert.embeddings
        embeddings.LayerNorm.weight.fill_(1.0)
        embeddings.word_embeddings.weight[:, 1] = 1.0
        embeddings.word_embeddings.weight[bang, 0] = 1.0
        for layer in model.bert.encoder.layer:
            layer.attention.self.value.weight.copy_(torch.eye(16))
            layer.attention.output.LayerNorm.weight.fill_(1.0)
            layer.output.LayerNorm.weight.fill_(1.0)
        model.bert.encoder.layer[0].attention.output.dense.weight.copy_(torch.eye(16))
        model.bert.pooler.dense.weight[0, 0] = 1.0
        model.bert.pooler.dense.weight[0, 2] = -1.0
        model.classifier.weight[1, 0] = 400.0
        model.classifier.bias[0] = 2.0  # "safe" when the pooled feature is 0


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")
