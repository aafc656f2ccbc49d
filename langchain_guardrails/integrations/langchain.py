"""Public path of ``RunnableRails``, NeMo Guardrails' LangChain wrapper (it lives in
:mod:`langchain_guardrails.nemo.runnable_rails`)."""

from langchain_guardrails.nemo.runnable_rails import RunnableRails

__all__ = ["RunnableRails"]
