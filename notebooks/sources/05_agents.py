"""Cells of ``05_agents.ipynb`` (built by ``notebooks/build_notebooks.py``)."""

# ruff: noqa: E501 - cell code is indented here; ruff checks it at its real width in the .ipynb

from textwrap import dedent

CELLS: list[tuple[str, str]] = []


def md(text: str) -> None:
    CELLS.append(("markdown", dedent(text).strip("\n")))


def code(text: str) -> None:
    CELLS.append(("code", dedent(text).strip("\n")))


md(
    """
    # 05 · Agents and tools

    An agent's model calls tools, and tools act on the world: a tool call must be checked
    *before* it runs, and a tool result before the model reads it. This notebook guards a
    LangChain agent (`langchain.agents.create_agent`, extra `agents`) in the two ways the
    package offers:

    1. a **guarded model**: `create_agent(model=Guardrails(llm=model, config=config), tools=...)`;
    2. **`GuardrailsMiddleware`**: the whole config around an *unguarded* model,
       `create_agent(model=model, tools=..., middleware=[GuardrailsMiddleware(config=config)])`.

    In both, one tool call is blocked (the tool never runs), one tool result is masked, and we
    watch the agent's `messages` stream: it shows released text only.

    Offline: the model is `FakeToolCallingModel` from `langchain_guardrails.testing`, which plays
    scripted turns (text, then tool calls) and streams them like a provider.
    """
)
code(
    """
    from langchain.agents import create_agent
    from langchain_core.tools import tool
    from langgraph.checkpoint.memory import InMemorySaver

    from langchain_guardrails import Guardrails, RailsConfig
    from langchain_guardrails.agents.middleware import GuardrailsMiddleware
    from langchain_guardrails.testing import FakeToolCallingModel, FakeTurn
    """
)
md(
    """
    ## The config: tool rails

    `rails.tool_output` checks every tool call the model emits (output-side rails see the text
    `name({json args})`); `rails.tool_input` checks every tool result (input-side rails see
    its text). A tool call is held whole until it passed: nobody sees half a call.
    Output rails check the answer in windows of 3 units with hold-back.
    """
)
code(
    """
    config = RailsConfig.from_content(
        yaml_content=\"\"\"
    rails:
      output:
        flows: [regex check output]
        streaming: {enabled: true, chunk_size: 3, context_size: 1, stream_first: false}
      tool_output:
        flows: [regex check output]          # no `rm -rf` in any tool call
      tool_input:
        flows: [mask sensitive data on input]  # e-mail addresses in tool results are masked
      config:
        regex_detection: {output: {patterns: ["rm -rf"]}}
        sensitive_data_detection: {input: {entities: [EMAIL_ADDRESS]}}
    \"\"\"
    )

    executed = []


    @tool
    def run_shell(command: str) -> str:
        \"\"\"Run a shell command on the server.\"\"\"
        executed.append(command)
        return f"$ {command}: ok, owner is ops@example.com"


    def shell(command, call_id):
        return {"name": "run_shell", "args": {"command": command}, "id": call_id}


    def script():
        \"\"\"The model's turns: list the files, then try to delete everything.\"\"\"
        return FakeToolCallingModel(
            turns=[
                FakeTurn(text="Let me list the files first.", tool_calls=[shell("ls /srv", "call-1")]),
                FakeTurn(text="Now cleaning up.", tool_calls=[shell("rm -rf /srv", "call-2")]),
                FakeTurn(text="All clean."),
            ]
        )


    async def show(agent, thread):
        \"\"\"Stream the agent's messages: each message's text as it is released, per node.\"\"\"
        current = None
        async for message, meta in agent.astream(
            {"messages": [("user", "Please tidy up /srv")]}, thread, stream_mode="messages"
        ):
            if not message.text:
                continue
            if message.id != current:
                current = message.id
                print(f"\\n[{meta['langgraph_node']}] ", end="")
            print(message.text, end="|")
        print()
    """
)
md(
    """
    ## 1. A guarded model

    `Guardrails` is a chat model: `create_agent` binds the tools on it (the guard binds them on
    the wrapped model) and streams its released chunks.
    """
)
code(
    """
    model = script()
    agent = create_agent(
        model=Guardrails(llm=model, config=config), tools=[run_shell], checkpointer=InMemorySaver()
    )
    thread = {"configurable": {"thread_id": "guarded-model"}}
    await show(agent, thread)
    print("tools executed:", executed)
    """
)
md(
    """
    The second answer's text that had passed its window ("Now cleaning") was already on
    screen; its tool call (`rm -rf /srv`) never reached the stream or the tool: the answer
    became the refusal and the agent ended. What is in the agent's state?
    """
)
code(
    """
    for message in agent.get_state(thread).values["messages"]:
        calls = [c["args"] for c in getattr(message, "tool_calls", [])]
        print(f"{message.type:6} {message.text!r} {calls or ''}")
    print(agent.get_state(thread).values["messages"][-1].response_metadata["guardrails"])
    """
)
md(
    """
    The guard protects the **model**: the model read the tool result masked
    (`<EMAIL_ADDRESS>`), but the state keeps the tool's own output. To rewrite state too, and
    to guard an agent whose model you do not wrap, use the middleware.

    ## 2. `GuardrailsMiddleware`

    The same config, an unguarded model. The middleware runs input rails once per run
    (`before_agent`), replaces the model by a guarded one for each model call
    (`wrap_model_call`: output rails per window, tool calls held until checked), and checks
    every tool call before it runs and every result before it enters state (`wrap_tool_call`).
    """
)
code(
    """
    executed.clear()
    model = script()
    agent = create_agent(
        model=model,
        tools=[run_shell],
        middleware=[GuardrailsMiddleware(config=config)],
        checkpointer=InMemorySaver(),
    )
    thread = {"configurable": {"thread_id": "middleware"}}
    await show(agent, thread)
    print("tools executed:", executed)
    for message in agent.get_state(thread).values["messages"]:
        calls = [c["args"] for c in getattr(message, "tool_calls", [])]
        print(f"{message.type:6} {message.text!r} {calls or ''}")
    """
)
md(
    """
    Now the masked result is what the state holds (and what the `tools` node streamed), so a
    checkpointer never stores the address. The blocked call never ran, and the run ended with
    the refusal as the last AI message.

    ## 3. A tool result that is blocked

    A rail on `rails.tool_input` that blocks (here: a secret token in the result) replaces the
    result in state with a placeholder, so the provider still gets an answer for every call,
    and ends the run with the refusal before the model reads anything.
    """
)
code(
    """
    strict = RailsConfig.from_content(
        config={
            "rails": {
                "tool_input": {"flows": ["regex check input"]},
                "config": {"regex_detection": {"input": {"patterns": ["sk-[a-z0-9]+"]}}},
            }
        }
    )


    @tool
    def read_env(name: str) -> str:
        \"\"\"Read an environment variable.\"\"\"
        return "sk-live1234"


    model = FakeToolCallingModel(
        turns=[
            FakeTurn(tool_calls=[{"name": "read_env", "args": {"name": "API_KEY"}, "id": "call-1"}]),
            FakeTurn(text="The key is sk-live1234."),
        ]
    )
    agent = create_agent(
        model=model, tools=[read_env], middleware=[GuardrailsMiddleware(config=strict)]
    )
    result = await agent.ainvoke({"messages": [("user", "What is our API key?")]})
    for message in result["messages"]:
        print(f"{message.type:6} {message.text!r}")
    print("model calls:", model.stats.calls)
    """
)
md(
    """
    ## 4. Switching to a real model

    Nothing above depends on the fake model: `create_agent(model="openai:gpt-4o-mini", ...)`
    with the middleware, or `Guardrails(llm=ChatOpenAI(...))` as the model. The cell below only
    talks to a model when you ask it to: set `GUARDRAILS_NOTEBOOK_MODEL=openai` (with
    `OPENAI_API_KEY`) or `=local` (an OpenAI-compatible server on 127.0.0.1) before starting
    Jupyter.
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
        executed.clear()
        agent = create_agent(
            model=real_llm,
            tools=[run_shell],
            middleware=[GuardrailsMiddleware(config=config)],
            checkpointer=InMemorySaver(),
        )
        await show(agent, {"configurable": {"thread_id": "real"}})
        print("tools executed:", executed)
    else:
        print("Offline run: set GUARDRAILS_NOTEBOOK_MODEL=openai or =local to try a real model.")
    """
)
