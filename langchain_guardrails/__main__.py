"""``python -m langchain_guardrails`` runs the ``langchain-guardrails`` command line."""

from .cli import main

raise SystemExit(main())
