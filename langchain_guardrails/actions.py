"""Public path of the ``@action`` decorator (it lives in
:mod:`langchain_guardrails.config.actions`).

Example:
    .. code-block:: python

        from langchain_guardrails.config.actions import action

        @action(name="check blocked terms")
        def check_blocked_terms(text: str) -> bool:
            return "proprietary" not in text
"""

from langchain_guardrails.config.actions import ActionSpec, RailResult, Span, action, apply_spans

__all__ = ["ActionSpec", "RailResult", "Span", "action", "apply_spans"]
