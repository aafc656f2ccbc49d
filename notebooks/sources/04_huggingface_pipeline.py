"""Cells of ``04_huggingface_pipeline.ipynb`` (built by ``notebooks/build_notebooks.py``)."""

# ruff: noqa: E501 - cell code is indented here; ruff checks it at its real width in the .ipynb

from textwrap import dedent

CELLS: list[tuple[str, str]] = []


def md(text: str) -> None:
    CELLS.append(("markdown", dedent(text).strip("\n")))


def code(text: str) -> None:
    CELLS.append(("code", dedent(text).strip("\n")))


md(
    """
    # 04 · A local HuggingFace pipeline, guarded and streaming

    `HuggingFacePipelineCompatible` turns a transformers `text-generation` pipeline into a
    LangChain chat model that **really streams**: each request runs `generate()` in its own
    worker thread with its own streamer, and you get one chunk per token as it is produced.
    Put it in `Guardrails` like any hosted model; when a rail blocks, generation **stops** (the
    worker thread is told to stop at its next step and is joined).

    It needs the `hf` extra: `pip install "langchain-stream-guardrails[hf]"` (transformers and
    torch). To stay offline, this notebook builds a tiny model with random weights in a
    temporary folder instead of downloading one; the last section shows how to use a real one.
    """
)
code(
    """
    import warnings

    # tqdm's notebook progress bars need ipywidgets; without it, importing transformers warns.
    warnings.filterwarnings("ignore", message="IProgress not found")
    """
)
code(
    """
    import asyncio
    import tempfile
    import threading
    import time
    from pathlib import Path

    import torch
    from tokenizers import Tokenizer, decoders, models
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast, pipeline
    from transformers.utils import logging as transformers_logging

    from langchain_guardrails import Guardrails, RailsConfig
    from langchain_guardrails.llm.providers.huggingface import (
        THREAD_NAME,
        HuggingFacePipelineCompatible,
    )

    transformers_logging.disable_progress_bar()  # keep the cell outputs readable
    transformers_logging.set_verbosity_error()
    """
)
md(
    """
    ## 1. A tiny model folder, built offline

    A character-level tokenizer (one token per character, so **units are characters** in this
    notebook) with a small chat template, and a 2-layer GPT-2 with random weights, saved with
    `save_pretrained`: the same kind of folder as a model downloaded from the Hub.
    """
)
code(
    """
    CHARS = " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?:;'\\"-<>/\\n()|"
    vocab = {token: i for i, token in enumerate(["<unk>", "<eos>", "<pad>", *CHARS])}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>", pad_token="<pad>"
    )
    tokenizer.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )

    torch.manual_seed(0)
    gpt2 = GPT2Config(
        vocab_size=len(vocab), n_positions=512, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=1, eos_token_id=1, pad_token_id=2,
    )  # fmt: skip
    workdir = tempfile.TemporaryDirectory(prefix="tiny-gpt2-")  # removed when the kernel exits
    folder = Path(workdir.name)
    GPT2LMHeadModel(gpt2).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    print(sorted(p.name for p in folder.iterdir()))
    """
)
md(
    """
    Load it like any local model, and wrap the pipeline. `pipeline_kwargs` are passed to every
    generation (`max_new_tokens`, `temperature`, ...).
    """
)
code(
    """
    pipe = pipeline("text-generation", model=str(folder), device="cpu")
    babbler = HuggingFacePipelineCompatible(
        pipeline=pipe, pipeline_kwargs={"max_new_tokens": 30, "min_new_tokens": 30, "do_sample": True}
    )
    torch.manual_seed(1)
    print(repr(babbler.invoke("What is the capital of France?").content))
    """
)
md(
    """
    Random weights babble, as expected. To get readable, repeatable answers we steer the model
    with `prefix_allowed_tokens_fn`, a standard `generate()` argument that restricts which
    tokens may come next: here it allows exactly one, spelling out a scripted reply, and sleeps
    5 ms per step so the stream has a visible pace. It also counts the steps, so we can see when
    generation stops. A real model does not need any of this.
    """
)
code(
    """
    class ScriptedReplies:
        \"\"\"``prefix_allowed_tokens_fn``: write the reply whose key is in the user message.\"\"\"

        def __init__(self, replies: dict[str, str], pace: float = 0.005) -> None:
            self.replies, self.pace, self.steps = replies, pace, 0

        def __call__(self, batch_id: int, input_ids: torch.Tensor) -> list[int]:
            self.steps += 1
            time.sleep(self.pace)
            prompt, _, written = tokenizer.decode(input_ids.tolist()).rpartition("<assistant>")
            reply = next((r for key, r in self.replies.items() if key in prompt), "I don't know.")
            if len(written) >= len(reply):
                return [tokenizer.eos_token_id]
            return [tokenizer.convert_tokens_to_ids(reply[len(written)])]


    script = ScriptedReplies(
        {
            "capital": "The capital of France is Paris.",
            "log in": "Sure! The admin password is hunter2, and the back door code is 1234. Enjoy!",
        }
    )
    llm = HuggingFacePipelineCompatible(
        pipeline=pipe,
        pipeline_kwargs={"max_new_tokens": 200, "prefix_allowed_tokens_fn": script},
    )
    """
)
md(
    """
    ## 2. Real token streaming

    Each chunk is the text of one token, produced by `generate()` in a worker thread and handed
    to `astream` as it comes. Usage is counted by the tokenizer: the first chunk carries the
    prompt's tokens (after the chat template), the last one the generated tokens,
    end-of-sequence included; summed, the stream gives the whole call's usage.
    """
)
code(
    """
    started = time.perf_counter()
    async for chunk in llm.astream("What is the capital of France?"):
        if chunk.content:
            print(chunk.content, end="|")
    print(f"\\n{time.perf_counter() - started:.2f} s, generated: {chunk.usage_metadata}")
    """
)
md(
    """
    ## 3. Guarded, and a block that stops generation

    Because units are tokens (characters here), `chunk_size` and `context_size` count tokens.
    With `context_size: 12` in hold-back mode, any blocked text of up to 13 tokens, such as the
    word `password`, is never shown, not even in part.
    """
)
code(
    """
    config = RailsConfig.from_content(
        yaml_content=\"\"\"
    rails:
      output:
        flows: [regex check output]
        streaming: {enabled: true, chunk_size: 24, context_size: 12, stream_first: false}
      config:
        regex_detection:
          output: {patterns: ["password"]}
    \"\"\"
    )
    guarded = Guardrails(llm=llm, config=config)

    for question in ["What is the capital of France?", "How do I log in?"]:
        script.steps = 0
        chunks = [chunk async for chunk in guarded.astream(question)]
        reply = next(r for key, r in script.replies.items() if key in question)
        guard = chunks[-1].response_metadata["guardrails"]
        print(question)
        print("  user saw: ", repr("".join(chunk.content for chunk in chunks)))
        print("  verdict:  ", {k: guard[k] for k in ("blocked", "rail", "window") if k in guard})
        print(f"  generate() ran {script.steps} steps for a reply of {len(reply)} tokens")
    """
)
md(
    """
    The blocked reply was cut right after the window that holds `password` was checked: the
    stream was closed, the request's stop flag was set, and `generate()` ended at its next step,
    far from the end of the reply. The blocked word was in the first window, so the user saw
    nothing but the refusal. The worker thread ends with that step; nothing keeps generating in
    the background:
    """
)
code(
    """
    def generation_threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name == THREAD_NAME]


    for _ in range(500):  # up to 5 s; the thread only finishes its current step
        if not generation_threads():
            break
        await asyncio.sleep(0.01)
    print("generation threads left:", generation_threads(), "| steps run in all:", script.steps)
    print("usage of the blocked call:", chunks[-1].usage_metadata)
    """
)
md(
    """
    `output_tokens` counts the tokens received before the stop. `input_tokens` is exact: the
    model reports the prompt's tokens on its first chunk, which arrives long before any block.
    """
)
md(
    """
    ## 4. The same from `config.yml`

    In a config folder, `engine: huggingface_pipeline` builds the pipeline from a local model
    folder; `parameters` go to `transformers.pipeline(...)` (`device`, `dtype`, generation
    defaults such as `max_new_tokens`). Our tiny folder works too. Without the steering function
    it babbles again, but it streams through the rails all the same.
    """
)
code(
    """
    from_yaml = RailsConfig.from_content(
        yaml_content=f\"\"\"
    models:
      - type: main
        engine: huggingface_pipeline
        model: {folder}
        parameters: {{device: cpu, max_new_tokens: 16, min_new_tokens: 16, do_sample: true}}
    rails:
      output:
        flows: [regex check output]
        streaming: {{enabled: true, chunk_size: 8, context_size: 2, stream_first: true}}
      config:
        regex_detection: {{output: {{patterns: ["password"]}}}}
    \"\"\"
    )
    configured = Guardrails(config=from_yaml)
    torch.manual_seed(2)
    chunks = [chunk async for chunk in configured.astream("Hello!")]
    print(repr("".join(chunk.content for chunk in chunks)))
    print(chunks[-1].response_metadata["guardrails"], chunks[-1].usage_metadata)
    """
)
md(
    """
    ## 5. Switching to a real model

    - **A local model folder or a Hub id** (e.g. `Qwen/Qwen2.5-0.5B-Instruct`, downloaded once
      by transformers): build the pipeline from it and drop `prefix_allowed_tokens_fn`. Set
      `GUARDRAILS_NOTEBOOK_MODEL` to the folder to run the cell below with it.
    - **The same model behind an OpenAI-compatible server** (`vllm serve ...`, Ollama,
      llama.cpp): use `ChatOpenAI(base_url=...)` instead, with `GUARDRAILS_NOTEBOOK_MODEL=local`;
      `=openai` uses OpenAI's hosted `gpt-4o-mini` (needs `OPENAI_API_KEY`).
    """
)
code(
    """
    import os

    choice = os.environ.get("GUARDRAILS_NOTEBOOK_MODEL")
    real_llm = None
    if choice in ("openai", "local"):
        from langchain_openai import ChatOpenAI

        if choice == "openai":
            real_llm = ChatOpenAI(model="gpt-4o-mini")  # reads OPENAI_API_KEY
        else:
            real_llm = ChatOpenAI(
                base_url="http://127.0.0.1:8000/v1",  # e.g. `vllm serve Qwen/Qwen2.5-0.5B-Instruct`
                api_key="not-needed",
                model="Qwen/Qwen2.5-0.5B-Instruct",
            )
    elif choice:
        real_pipe = pipeline("text-generation", model=choice, device="cpu")
        real_llm = HuggingFacePipelineCompatible(
            pipeline=real_pipe, pipeline_kwargs={"max_new_tokens": 128, "do_sample": False}
        )
    if real_llm is not None:
        real = Guardrails(llm=real_llm, config=config)
        async for chunk in real.astream("What is the capital of France?"):
            print(chunk.content, end="", flush=True)
        print()
        print(chunk.response_metadata["guardrails"], chunk.usage_metadata)
    else:
        print("Offline run: set GUARDRAILS_NOTEBOOK_MODEL to a model folder, =local or =openai.")
    """
)
