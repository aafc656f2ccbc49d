"""A tiny random-weight GPT-2 and a character-level tokenizer, built offline in milliseconds.

Replies are made deterministic with ``ForcedReplies``, a ``prefix_allowed_tokens_fn`` that lets
the model write exactly one given reply per prompt (then EOS), and counts the generated tokens.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, LLMResult

CHARS = " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?:;'\"-<>/\n()|"
SPECIALS = ["<unk>", "<eos>", "<pad>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def build_tokenizer(chat_template: str | None = None) -> Any:
    """One token per character (plus <unk>, <eos>, <pad>); decodes back exactly."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(SPECIALS + list(CHARS))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend,
        unk_token="<unk>",
        eos_token="<eos>",
        pad_token="<pad>",
        clean_up_tokenization_spaces=False,
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def build_model(vocab_size: int) -> Any:
    """2 layers, 32-wide, random weights (seeded)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=1024,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=2,
    )
    return GPT2LMHeadModel(config).eval()  # type: ignore[no-untyped-call]


def build_pipeline(model: Any, tokenizer: Any, **kwargs: Any) -> Any:
    from transformers import pipeline

    return pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu", **kwargs)


class ForcedReplies:
    """``prefix_allowed_tokens_fn`` that makes the model write ``replies[cue]`` after the first
    occurrence of ``cue`` in the prompt, then EOS. Counts generated tokens per cue.

    ``delay`` sleeps per step (so streams overlap and arrive over time); ``fail_at`` raises at
    that step of a reply (a generation error).
    """

    def __init__(
        self,
        tokenizer: Any,
        replies: dict[str, str],
        *,
        delay: float = 0.0,
        fail_at: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.replies = replies
        self.delay = delay
        self.fail_at = fail_at
        self.eos = tokenizer.eos_token_id
        self.steps: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {cue: [] for cue in replies}
        self._lock = threading.Lock()

    def __call__(self, batch_id: int, input_ids: Any) -> list[int]:
        text = self.tokenizer.decode(input_ids.tolist())
        for cue, reply in self.replies.items():
            at = text.find(cue)
            if at < 0:
                continue
            done = len(text) - at - len(cue)
            with self._lock:
                self.steps[cue] += 1
                self.times[cue].append(time.monotonic())
            if self.fail_at is not None and done == self.fail_at:
                raise RuntimeError(f"forced failure at step {done}")
            if self.delay:
                time.sleep(self.delay)
            if done >= len(reply):
                return [self.eos]
            return [self.tokenizer.convert_tokens_to_ids(reply[done])]
        return [self.eos]

    def ended_at(self, cue: str) -> float:
        """When the last step of ``cue``'s reply ran."""
        return self.times[cue][-1]


class HuggingFacePipeline(BaseLLM):
    """Stand-in for ``langchain_huggingface.HuggingFacePipeline`` (not installed here)."""

    pipeline: Any
    model_id: str = "local/tiny-gpt2"
    pipeline_kwargs: dict[str, Any] = {}
    model_kwargs: dict[str, Any] = {}

    @property
    def _llm_type(self) -> str:
        return "huggingface_pipeline"

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> LLMResult:
        texts = [self.pipeline(p, return_full_text=False, **self.pipeline_kwargs) for p in prompts]
        return LLMResult(generations=[[Generation(text=t[0]["generated_text"])] for t in texts])


THREAD_NAME = "langchain-guardrails-hf-generation"
"""``hf_streamer.THREAD_NAME`` (not imported: this conftest must load without transformers)."""


def generation_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def wait_threads_gone(timeout: float = 10.0) -> list[threading.Thread]:
    """Generation threads still alive after waiting up to ``timeout`` s for them to end."""
    deadline = time.monotonic() + timeout
    alive = generation_threads()
    while alive and time.monotonic() < deadline:
        for thread in alive:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = generation_threads()
    return alive


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    pytest.importorskip("transformers")
    return build_tokenizer()


@pytest.fixture(scope="session")
def chat_tokenizer() -> Any:
    pytest.importorskip("transformers")
    return build_tokenizer(CHAT_TEMPLATE)


@pytest.fixture(scope="session")
def tiny_model(tokenizer: Any) -> Any:
    pytest.importorskip("torch")
    return build_model(len(tokenizer))


@pytest.fixture(scope="session")
def pipe(tiny_model: Any, tokenizer: Any) -> Any:
    """The shared text-generation pipeline (no chat template)."""
    return build_pipeline(tiny_model, tokenizer)


@pytest.fixture(scope="session")
def chat_pipe(tiny_model: Any, chat_tokenizer: Any) -> Any:
    """The same model with a tokenizer that has a chat template."""
    return build_pipeline(tiny_model, chat_tokenizer)


@pytest.fixture(autouse=True)
def _no_generation_left_behind() -> Any:
    """Every test ends with no generation thread running."""
    yield
    assert wait_threads_gone() == []
