"""The gateway's OpenAI protocol: requests parsed and validated (``openai_schema``,
``openai_messages``, ``openai_tools``, ``json_depth``, ``request_error``), answers written as
chat completions and their SSE chunks (``completions``, ``deltas``, ``sse``, ``json_http``), and
``/v1/guardrail/checks`` (``checks``).

Imports: ``guard`` and below, ``server.upstream``, ``server.operations``.
"""
