"""LangServe routes (``/configs/{id}/invoke|stream|...``) over the same configs.

Imports: ``guard`` and below, ``server.operations``.
"""
