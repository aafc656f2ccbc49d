"""The parts of the eval HTML report (``eval --html``, the console's eval page): colour and
log scales (``scales``), confusion matrices, per-category tables and misclassified examples
(``tables``), latency and streaming charts drawn as inline SVG (``charts``). The page itself
is :func:`langchain_guardrails.eval.html_report.render_html`.

Everything here is plain Python producing escaped HTML text: no plotting library, no script,
no external file, so the page renders offline and inside an ``<iframe srcdoc>``.

Imports: ``eval.report`` and ``eval.runner`` only.
"""
