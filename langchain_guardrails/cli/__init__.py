"""Top floor, the command line: ``langchain-guardrails`` (``main``: chat, serve, check, eval),
the offline ``demo`` (``make demo``) and the chat ``terminal``.

Imports: anything below.
"""

from langchain_guardrails.cli.main import main

__all__ = ["main"]
