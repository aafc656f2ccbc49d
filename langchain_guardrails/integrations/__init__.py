"""Drop-in counterparts of NeMo Guardrails' integrations (``langchain``: ``RunnableRails``).

Public import paths only: the code lives in :mod:`langchain_guardrails.nemo`.
"""
