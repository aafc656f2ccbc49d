"""Floor 6, NeMo Guardrails compatibility over ``Guardrails``.

``llmrails`` is NeMo's ``LLMRails`` API (``generate``, ``stream_async``, ``explain``);
``runnable_rails`` NeMo's LangChain wrapper ``RunnableRails`` (over ``chain_model``, a chain seen
as a chat model); ``external_tokens`` feeds ``stream_async(generator=...)``; ``check`` is
``langchain-guardrails check --nemo``. NeMo's config keys, ``@action`` shim and rail library
live where they are used: ``config.nemo_keys``, ``config.nemo_actions``, ``engine.nemo_library``.

Imports: ``guard`` and the floors below it. Public paths: ``langchain_guardrails.LLMRails``,
``langchain_guardrails.nemo.runnable_rails``, ``langchain_guardrails.streaming.handler``.
"""
