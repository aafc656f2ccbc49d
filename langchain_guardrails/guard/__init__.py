"""Floor 5, the guard: ``Guardrails``, a LangChain chat model with rails around another one.

``chat_model`` is the LangChain surface (``invoke``/``stream``/``astream``/``batch``,
``bind_tools``, ``with_structured_output``, ``check``; the run's callback lifecycle), with
``identity`` forwarding the wrapped model's name, types and schemas. ``pipeline``
(``GuardPipeline.stream``) is one call from model to caller: input rails, the wrapped model's
stream (``llm``), the tool-call gate and the output windows (``streaming``), the refusal.
``callbacks`` builds the rails' relayed callback managers; ``structured_output`` parses an answer
that passed.

Imports: every floor below (``config``, ``engine``, ``streaming``, ``llm``, ``observability``).
"""
