"""Floor 6, the gateway: OpenAI-compatible chat completions and LangServe routes.

A request goes ``app`` (``create_app``: routes and middleware) → ``operations`` (auth, Host and
Origin rules, limits, access log, metrics) → ``protocol`` (parse the OpenAI request, write the
completion or its SSE chunks) → a ``Guardrails`` from ``configs`` (the served configs; on the fast
path its model streams from ``upstream``, a lean OpenAI-compatible client) → back through
``protocol``. ``langserve`` adds LangServe's routes over the same configs; ``fleet`` reloads
configs across worker processes, which ``workers`` runs.

Needs the ``serve`` extra (``pip install 'langchain-stream-guardrails[serve]'``); importing
this package works without it, using :func:`create_app` raises ``MissingExtraError``.

Example:
    .. code-block:: python

        from langchain_guardrails.server import create_app

        app = create_app("examples/configs")   # uvicorn module:app --host 127.0.0.1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_guardrails.errors import require

if TYPE_CHECKING:
    from langchain_guardrails.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        require("fastapi", "serve")
        require("uvicorn", "serve")
        from langchain_guardrails.server.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
