"""Cells of ``01_streaming_quickstart.ipynb`` (built by ``notebooks/build_notebooks.py``)."""

# ruff: noqa: E501 - cell code is indented here; ruff checks it at its real width in the .ipynb

from textwrap import dedent

CELLS: list[tuple[str, str]] = []


def md(text: str) -> None:
    CELLS.append(("markdown", dedent(text).strip("\n")))


def code(text: str) -> None:
    CELLS.append(("code", dedent(text).strip("\n")))


md(
    """
    # 01 · Streaming quickstart: output rails that keep the stream flowing

    `langchain_guardrails` wraps any LangChain chat model in input and output **rails** and keeps
    `stream()` / `astream()` working: the output is checked **per window of chunks while tokens
    flow**, and a block closes the model stream at once.

    In this notebook:

    1. build a config from a YAML string with `RailsConfig.from_content`;
    2. stream a guarded answer with `astream`;
    3. watch a block happen mid-stream, in both `stream_first` modes;
    4. read what the refusal chunk's metadata holds;
    5. draw the **streaming timeline** of one request from the package's own events: when each
       unit arrived, when each window was checked, when each unit reached the user;
    6. cut the latency of slow (LLM-judge) rails with speculative generation and growing
       windows.

    Everything runs offline: the model is `FakeStreamingChatModel` from
    `langchain_guardrails.testing`, a test double that streams a fixed text word by word with a
    delay, and reports token usage like a real provider. The last section shows how to switch to
    a real model.
    """
)
code(
    """
    import asyncio

    from langchain_core.callbacks import AsyncCallbackHandler

    from langchain_guardrails import Guardrails, GuardrailsViolation, RailsConfig, action
    from langchain_guardrails.testing import FakeStreamingChatModel
    """
)
md(
    """
    ## 1. A config in a string

    `RailsConfig.from_content` takes the same YAML as a `config.yml` file. This one has a single
    output rail, the built-in `regex check output`, and streams its output through windows:

    - a **unit** is one chunk as the model emits it (here: one word);
    - `chunk_size: 4` new units are checked per window, and `context_size: 1` unit of
      already-checked text is carried into the next window, so a pattern split across two
      windows is still seen whole;
    - `stream_first: false` is **hold-back** mode: a unit reaches the user only after every
      window that contains it has passed.
    """
)
code(
    """
    YAML = \"\"\"
    rails:
      output:
        flows: [regex check output]
        streaming:
          enabled: true
          chunk_size: 4
          context_size: 1
          stream_first: false
      config:
        regex_detection:
          output: {patterns: ["password is [^ ]+"]}
    \"\"\"
    config = RailsConfig.from_content(yaml_content=YAML)
    print(config.rails.output.flows)
    print(config.rails.output.streaming)
    """
)
md(
    """
    ## 2. A guarded stream

    `Guardrails(llm=..., config=...)` is a LangChain runnable that behaves like the chat model it
    wraps: `astream` yields `AIMessageChunk`s. Notebooks run inside an event loop, so `async for`
    works directly in a cell. Each piece printed below is one unit released to the user.
    """
)
code(
    """
    llm = FakeStreamingChatModel(
        text="The capital of France is Paris, famous for its museums and its cafés.", delay=0.01
    )
    guarded = Guardrails(llm=llm, config=config)

    async for chunk in guarded.astream("What is the capital of France?"):
        if chunk.content:
            print(repr(chunk.content), end=" ")
    print()
    print("guardrails:", chunk.response_metadata["guardrails"])
    print("usage:     ", chunk.usage_metadata)
    """
)
md(
    """
    The text arrives unchanged, chunk by chunk (empty chunks, which carry only metadata, are
    skipped in the print). The **last chunk** has no text; it carries the
    guardrails verdict (`blocked: False`, and how many windows were checked) and the model's
    `usage_metadata`. `Guardrails` turned `stream_usage=True` on for a *copy* of the model (never
    on your object) so the usage is there even though we did not ask for it.
    """
)
md(
    """
    ## 3. A block mid-stream, in both `stream_first` modes

    Now the model leaks a password in the middle of its answer. We run the same reply with
    `stream_first: true` (units are released as soon as they arrive; windows are checked in the
    background) and `stream_first: false` (hold-back).

    To vary a setting without repeating the YAML, keep the shared part in YAML and pass the rest
    as a dict: `from_content` merges `config=` over `yaml_content` (it may add keys and extend
    lists, but a value that contradicts the YAML is an error naming both places).
    """
)
code(
    """
    SHARED = \"\"\"
    rails:
      output:
        streaming: {enabled: true, chunk_size: 4, context_size: 1}
      config:
        regex_detection:
          output: {patterns: ["password is [^ ]+"]}
    \"\"\"


    def make_config(stream_first: bool, flow: str = "regex check output", **top) -> RailsConfig:
        rails = {"output": {"flows": [flow], "streaming": {"stream_first": stream_first}}}
        if "refusal" in top:
            rails["refusal"] = {"output": top.pop("refusal")}
        return RailsConfig.from_content(yaml_content=SHARED, config={"rails": rails, **top})


    LEAKY = "Sure! The admin password is hunter2, and the door code is 1234. Anything else?"


    def guarded_leak(stream_first: bool, **top) -> tuple[Guardrails, FakeStreamingChatModel]:
        model = FakeStreamingChatModel(text=LEAKY, delay=0.01)
        return Guardrails(llm=model, config=make_config(stream_first, **top)), model


    units = len(FakeStreamingChatModel(text=LEAKY).reply_chunks([]))
    refusals = {}
    for stream_first in (True, False):
        leaky, model = guarded_leak(stream_first)
        pieces = [chunk async for chunk in leaky.astream("How do I log in?")]
        refusals[stream_first] = pieces[-1]
        print(f"stream_first={stream_first}:")
        print("   user saw:", " | ".join(repr(p.content) for p in pieces if p.content))
        print(f"   the model produced {model.stats.last_call_chunks} of its {units} units")
    """
)
md(
    """
    - With `stream_first: true` the user sees the words as fast as the model writes them, so the
      words of the blocked window (and a few after it, until the check returns) were already on
      screen when the refusal came. This mode suits rails whose job is to *stop* a bad answer,
      not to hide every word of it.
    - With `stream_first: false` nothing from a window is shown before that window passed: the
      user saw `Sure! The admin` and then the refusal; `password is hunter2` never left the
      process. Any blocked text that fits in `context_size + 1` units is contained, however the
      model splits it.
    - In both modes the model stream was **closed at the block**: the model produced only part
      of its reply, so no tokens are paid for after a block.
    """
)
md(
    """
    ## 4. What the refusal chunk holds

    On a block the last chunk's content is the refusal text, and
    `response_metadata["guardrails"]` says which stage and rail blocked, why, and in which
    output window. `usage_metadata` is still there: the usage of what the model produced up to
    the block.
    """
)
code(
    """
    last = refusals[False]
    print("content:          ", repr(last.content))
    print("guardrails:       ", last.response_metadata["guardrails"])
    print("usage_metadata:   ", last.usage_metadata)
    """
)
md(
    """
    `invoke` agrees with `astream`: on a block it returns the refusal alone as content, with the
    same metadata. If you prefer an exception, set `enable_rails_exceptions: true`;
    `GuardrailsViolation` carries the same metadata. The refusal text is configurable
    (`rails.refusal`, per stage or per rail).
    """
)
code(
    """
    leaky, _ = guarded_leak(False)
    answer = await leaky.ainvoke("How do I log in?")
    print("invoke:", repr(answer.content), answer.response_metadata["guardrails"]["rail"])

    strict, _ = guarded_leak(False, enable_rails_exceptions=True)
    try:
        await strict.ainvoke("How do I log in?")
    except GuardrailsViolation as violation:
        print("raised:", type(violation).__name__, "|", violation.stage, violation.rail)
        print("reason:", violation.reason)

    polite, _ = guarded_leak(False, refusal="Let's keep credentials out of chat.")
    print("custom refusal:", repr((await polite.ainvoke("How do I log in?")).content))
    """
)
md(
    """
    ## 5. The streaming timeline

    Why does hold-back delay the text, and by how much? When a guarded call has a callback
    handler, the package dispatches LangChain **custom events** for its windows and rails
    (`guardrails.window.started / checked / released`, `guardrails.rail.*`, ...; the payloads
    hold times and unit indices, never text). A handler only has to implement
    `on_custom_event` to record them. (`GuardrailsCallbackHandler` does the same and more, and
    `astream_events(version="v2")` shows them as `on_custom_event`.)

    To make the checks visible we add a rail that takes 30 ms, as a call to a moderation service
    would, and a model that writes a word every 20 ms.
    """
)
code(
    """
    class EventRecorder(AsyncCallbackHandler):
        \"\"\"Keeps the guardrails custom events of a call, as ``{"type": name, **payload}``.\"\"\"

        def __init__(self) -> None:
            self.events: list[dict] = []

        async def on_custom_event(self, name, data, **kwargs) -> None:
            if name.startswith("guardrails."):
                self.events.append({"type": name, **data})


    @action(name="moderation service")
    async def moderation_service(text: str) -> bool:
        await asyncio.sleep(0.03)  # stands in for a 30 ms HTTP call
        return "password is" not in text


    ANSWER = (
        "Paris is the capital of France and its largest city, home to the Louvre, "
        "the Eiffel Tower and many small cafés."
    )


    async def record(stream_first: bool, text: str) -> tuple[list[dict], list[str]]:
        \"\"\"Stream ``text`` through the moderation rail; the events and what the user saw.\"\"\"
        cfg = make_config(stream_first, flow="moderation service")
        model = FakeStreamingChatModel(text=text, delay=0.02)
        slow = Guardrails(llm=model, config=cfg, actions=[moderation_service])
        recorder = EventRecorder()
        stream = slow.astream("Tell me about Paris", config={"callbacks": [recorder]})
        seen = [chunk.content async for chunk in stream]
        return recorder.events, seen


    runs = {}
    for stream_first in (True, False):
        runs[stream_first] = await record(stream_first, ANSWER)
    events, _ = runs[False]
    for event in events[:7]:
        print(event)
    """
)
md(
    """
    Every event has a `type` and a `perf_counter()` time. `guardrails.window.started` lists the
    arrival time of each new unit of the window, `guardrails.window.checked` when the window's
    rails started and ended, and `guardrails.window.released` which units were handed to the
    user and when. That is all a timeline needs:
    """
)
code(
    """
    from dataclasses import dataclass, field


    @dataclass
    class Timeline:
        \"\"\"One request, in milliseconds since the stream started.\"\"\"

        arrived: dict[int, float] = field(default_factory=dict)  # unit -> arrival
        released: dict[int, float] = field(default_factory=dict)  # unit -> release to the user
        checks: list[tuple[int, int, int, float, float, str]] = field(default_factory=list)
        # (window, first unit, end unit, check start, check end, decision)


    def timeline(events: list[dict]) -> Timeline:
        t0 = next(e["t"] for e in events if e["type"] == "guardrails.stream.started")
        ms = lambda t: (t - t0) * 1000  # noqa: E731
        out, windows = Timeline(), {}
        for e in events:
            kind = e["type"]
            if kind == "guardrails.window.started":
                windows[e["window"]] = e
                new_units = range(e["new_first_unit"], e["end_unit"])
                out.arrived.update(zip(new_units, map(ms, e["arrivals"]), strict=True))
            elif kind == "guardrails.stream.ended":  # units no window covered (after a block)
                tail = range(e["first_unit"], e["first_unit"] + len(e["arrivals"]))
                out.arrived.update(zip(tail, map(ms, e["arrivals"]), strict=True))
            elif kind == "guardrails.window.checked":
                w = windows[e["window"]]
                start, end = ms(e["started_at"]), ms(e["ended_at"])
                check = (e["window"], w["first_unit"], w["end_unit"], start, end, e["decision"])
                out.checks.append(check)
            elif kind == "guardrails.window.released":
                span = range(e["first_unit"], e["end_unit"])
                times = e.get("times") or [e["t"]] * len(span)  # per unit in stream_first mode
                out.released.update(zip(span, map(ms, times), strict=True))
        return out


    lines = {sf: timeline(events) for sf, (events, _) in runs.items()}
    for stream_first, line in lines.items():
        waits = [line.released[u] - line.arrived[u] for u in line.released]
        first, last = min(line.released.values()), max(line.released.values())
        print(
            f"stream_first={stream_first!s:5}  first unit to the user at {first:3.0f} ms, "
            f"mean wait after arrival {sum(waits) / len(waits):4.1f} ms, last unit at {last:3.0f} ms"
        )
    """
)
code(
    """
    %matplotlib inline
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch


    def draw(ax, line: Timeline, title: str) -> None:
        for window, first, end, start, stop, decision in line.checks:
            colour = "tab:red" if decision == "blocked" else "tab:green"
            middle, width, height = (first + end - 1) / 2, max(stop - start, 2.0), end - first - 0.3
            ax.barh(middle, width, height, left=start, color=colour, alpha=0.22, edgecolor=colour)
            ax.annotate(f"w{window}", (stop, first - 0.2), fontsize=8, color=colour)
        units = sorted(line.arrived)
        ax.scatter([line.arrived[u] for u in units], units, s=18, color="0.35", zorder=3)
        shown = sorted(line.released)
        for u in shown:  # the wait between arrival and release
            ax.plot([line.arrived[u], line.released[u]], [u, u], color="tab:blue", lw=1, alpha=0.6)
        released = [line.released[u] for u in shown]
        ax.scatter(released, shown, marker=">", s=28, color="tab:blue", zorder=4)
        withheld = [u for u in units if u not in line.released]
        withheld_at = [line.arrived[u] for u in withheld]
        ax.scatter(withheld_at, withheld, marker="x", s=40, color="tab:red", zorder=5)
        ax.set_title(title)
        ax.set_xlabel("ms since the stream started")
        ax.grid(axis="x", alpha=0.3)


    def plot(lines: dict[bool, Timeline], suptitle: str) -> None:
        fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharex=True, sharey=True)
        draw(axes[0], lines[True], "stream_first: True  (release on arrival)")
        draw(axes[1], lines[False], "stream_first: False  (hold-back)")
        axes[0].set_ylabel("unit (model chunk)")
        axes[0].invert_yaxis()
        legend = [
            plt.Line2D([], [], color="0.35", marker="o", ls="", label="unit arrived from model"),
            plt.Line2D([], [], color="tab:blue", marker=">", label="unit released to the user"),
            plt.Line2D([], [], color="tab:red", marker="x", ls="", label="arrived, never released"),
            Patch(color="tab:green", alpha=0.3, label="window checked: passed"),
            Patch(color="tab:red", alpha=0.3, label="window checked: blocked"),
        ]
        fig.legend(handles=legend, loc="lower center", ncol=5, frameon=False)
        fig.suptitle(suptitle)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        plt.show()


    plot(lines, "One request, chunk_size=4, context_size=1, a 30 ms rail, a word every 20 ms")
    """
)
md(
    """
    How to read it: each row is a unit, grey dots are arrivals from the model, blue triangles
    releases to the user, and the bars are window checks spanning the units each window holds
    (`w0`, `w1`, ...).

    - **Left** (`stream_first: True`): every triangle sits on its dot, the user sees each word
      the moment it arrives; the checks run behind the text.
    - **Right** (hold-back): a window's units wait for the end of its bar, so text comes out in
      steps of `chunk_size` units, one check behind the model. The last unit of each window is
      held longer still: it is the context of the next window and waits for that one to pass
      too. Releases happen as the stream is consumed, so a unit whose check ends between two
      model chunks goes out with the next chunk.

    Both modes end about when the model does, because checks run while the model keeps
    generating: hold-back only adds the check of the last window. Here is the same picture for
    the leaking answer, where window 1 blocks:
    """
)
code(
    """
    blocked_runs = {}
    for stream_first in (True, False):
        blocked_runs[stream_first] = await record(stream_first, LEAKY)
    for stream_first, (_, seen) in blocked_runs.items():
        print(f"stream_first={stream_first}: the user saw {''.join(seen)!r}")
    plot(
        {sf: timeline(events) for sf, (events, _) in blocked_runs.items()},
        "The leaking answer: window 1 blocks, the stream is closed",
    )
    """
)
md(
    """
    With `stream_first: True` the blocked window's units had already been shown, and so were
    the units that arrived before the block was acted on. With hold-back, the red crosses mark
    units the model produced but the user never saw; after the block, the model stream was
    closed, so no more units arrived.
    """
)
md(
    """
    ## 6. Near-raw latency with slow rails

    With an LLM judge as a rail, the seconds are in two places: the input rails run before the
    model starts, and in hold-back mode the first release waits for a whole window plus its
    check. Two settings cut both:

    - `rails.input.speculative_generation: true` starts the model **with** the input rails.
      Nothing it produces is released (or shown to any callback or tracer) before every input
      rail passed; on an input block its stream is closed and the tokens it used are reported.
    - `rails.output.streaming.first_chunk_size` makes the first window small; each later window
      doubles until `chunk_size`, so the whole answer still takes few rail calls.

    Hold-back has a floor: a unit goes out only once a checked window holds it **and** the
    `context_size` (K) units after it, so the first release waits for the first window that
    ends after unit K+1, plus one check. Below, a 200 ms judge on input and output, a word every
    20 ms, `chunk_size: 40`, `context_size: 5`: first as configured today, then with both
    settings on.
    """
)
code(
    """
    import time


    @action(name="judge")
    async def judge(text: str) -> bool:
        await asyncio.sleep(0.2)  # stands in for a 200 ms LLM-judge call
        return True


    LONG = " ".join(f"word{i}" for i in range(60))


    async def record_latency(speculative: bool, first_chunk_size: int | None) -> tuple[list[dict], float]:
        \"\"\"One call with the judge on input and output; its events and its time to first chunk.\"\"\"
        streaming = {"enabled": True, "chunk_size": 40, "context_size": 5, "stream_first": False}
        if first_chunk_size is not None:
            streaming["first_chunk_size"] = first_chunk_size
        cfg = RailsConfig.from_content(
            config={
                "rails": {
                    "input": {"flows": ["judge"], "speculative_generation": speculative},
                    "output": {"flows": ["judge"], "streaming": streaming},
                }
            }
        )
        guarded = Guardrails(llm=FakeStreamingChatModel(text=LONG, delay=0.02), config=cfg, actions=[judge])
        recorder, started, first = EventRecorder(), time.perf_counter(), None
        async for chunk in guarded.astream("Tell me a story", config={"callbacks": [recorder]}):
            if chunk.content and first is None:
                first = (time.perf_counter() - started) * 1000
            if chunk.response_metadata.get("guardrails"):
                windows = chunk.response_metadata["guardrails"]["windows"]
        label = "speculative + first_chunk_size=8" if speculative else "sequential, equal windows"
        print(f"{label}: {windows} output windows")
        return recorder.events, first


    latency_runs = {
        "today": await record_latency(False, None),
        "new": await record_latency(True, 8),
    }
    for name, (_, first) in latency_runs.items():
        print(f"{name:5}: first chunk after {first:4.0f} ms")
    """
)
code(
    """
    def since_call(events: list[dict]) -> tuple[Timeline, tuple[float, float]]:
        \"\"\"The timeline in ms since the input rail started, and the input rail's span.\"\"\"
        line = timeline(events)
        t0 = next(e["t"] for e in events if e["type"] == "guardrails.stream.started")
        rail = next(e for e in events if e["type"] == "guardrails.rail.passed" and e["stage"] == "input")
        shift = (t0 - rail["started_at"]) * 1000
        moved = Timeline(
            arrived={u: t + shift for u, t in line.arrived.items()},
            released={u: t + shift for u, t in line.released.items()},
            checks=[(w, a, b, s + shift, e + shift, d) for w, a, b, s, e, d in line.checks],
        )
        return moved, (0.0, rail["duration"] * 1000)


    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharex=True, sharey=True)
    titles = {
        "today": "sequential input rail, windows of 40",
        "new": "speculative generation, first_chunk_size: 8",
    }
    for ax, (name, (events, first)) in zip(axes, latency_runs.items(), strict=True):
        line, (start, end) = since_call(events)
        ax.axvspan(start, end, color="tab:purple", alpha=0.12)
        draw(ax, line, f"{titles[name]} (first chunk {first:.0f} ms)")
        ax.set_xlabel("ms since the call started")
    axes[0].set_ylabel("unit (model chunk)")
    axes[0].invert_yaxis()
    fig.legend(
        handles=[
            Patch(color="tab:purple", alpha=0.2, label="input rail (200 ms judge)"),
            Patch(color="tab:green", alpha=0.3, label="output window checked"),
            plt.Line2D([], [], color="tab:blue", marker=">", label="unit released to the user"),
        ],
        loc="lower center",
        ncol=3,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    plt.show()
    """
)
md(
    """
    On the left the model only starts once the input rail passed, and nothing is released
    before the first 40-unit window was checked. On the right the model starts at once (its
    first units arrive while the input rail runs), the first window holds 8 units and is
    checked speculatively, and its first 3 units go out as soon as both the input rail and
    that window passed (its last 5 are the next window's context). The later windows double
    (8, 16, 32, then the 4 left), so the answer still takes only four output checks. To
    choose the sizes for a rail: `context_size` is the longest phrase (in units) the rail must
    see whole, minus one; a `first_chunk_size` a little above `context_size` puts the first
    release close to the floor (at or below it, window 1 releases nothing: all of it is
    context of window 2).
    """
)
md(
    """
    ## 7. Switching to a real model

    Nothing above depends on the fake model: pass any LangChain chat model as `llm`. With the
    `openai` extra (`pip install "langchain-stream-guardrails[openai]"`) that is `ChatOpenAI`,
    hosted or pointed with `base_url` at a local OpenAI-compatible server (vLLM, Ollama,
    llama.cpp, LM Studio). The cell below only talks to a model when you ask it to: set
    `GUARDRAILS_NOTEBOOK_MODEL=openai` (with `OPENAI_API_KEY`) or `=local` before starting
    Jupyter. In a `config.yml`, the same is a `models:` entry with `engine: openai` and
    `parameters: {base_url: ...}`.
    """
)
code(
    """
    import os

    choice = os.environ.get("GUARDRAILS_NOTEBOOK_MODEL")
    if choice in ("openai", "local"):
        from langchain_openai import ChatOpenAI

        if choice == "openai":
            real_llm = ChatOpenAI(model="gpt-4o-mini")  # reads OPENAI_API_KEY
        else:
            real_llm = ChatOpenAI(
                base_url="http://127.0.0.1:11434/v1",  # e.g. Ollama; vLLM: http://127.0.0.1:8000/v1
                api_key="not-needed",
                model="llama3.2",
            )
        real = Guardrails(llm=real_llm, config=config)
        async for chunk in real.astream("What is the capital of France?"):
            print(chunk.content, end="", flush=True)
        print()
        print(chunk.response_metadata["guardrails"], chunk.usage_metadata)
    else:
        print("Offline run: set GUARDRAILS_NOTEBOOK_MODEL=openai or =local to try a real model.")
    """
)
