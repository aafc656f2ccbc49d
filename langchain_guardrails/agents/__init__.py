"""Floor 6, agents: ``GuardrailsMiddleware``, a rails config around a LangChain 1.x agent.

``middleware`` holds the hooks (input rails before the agent, output rails streamed around each
model call, ``rails.tool_output`` on tool calls, ``rails.tool_input`` on tool results);
``guards`` builds the engines behind them; ``messages`` the state messages (placeholder,
refusal); ``tool_results`` how a tool result is checked and replaced; ``observers`` what callbacks
and streams see of the checks; ``structured`` structured responses under output rails.

Imports: ``guard`` and the floors below it. Public path: ``langchain_guardrails.agents.middleware``.
"""
