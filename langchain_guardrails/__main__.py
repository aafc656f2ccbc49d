"""``python -m langchain_guardrails`` runs the ``langchain-guardrails`` command line."""

from langchain_guardrails.cli.main import main

raise SystemExit(main())
