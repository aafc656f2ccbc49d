"""Public path of ``GuardrailsMiddleware`` (it lives in :mod:`langchain_guardrails.agents`).

Example:
    .. code-block:: python

        from langchain.agents import create_agent
        from langchain_guardrails.agents.middleware import GuardrailsMiddleware

        agent = create_agent(model, tools, middleware=[GuardrailsMiddleware(config="./config")])
"""

from langchain_guardrails.agents.middleware import BLOCKED_TOOL_RESULT, GuardrailsMiddleware

__all__ = ["BLOCKED_TOOL_RESULT", "GuardrailsMiddleware"]
