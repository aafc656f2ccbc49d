"""Drop-in counterparts of NeMo Guardrails' integrations (``langchain``: ``RunnableRails``)."""
