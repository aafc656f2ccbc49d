"""The fast path's upstream: a lean OpenAI-compatible HTTP client (``client``, ``sse_client``)
that streams the upstream's chunks straight into the windows, and how its failures become
``502 upstream_error`` answers (``failures``).

Imports: ``config``, ``streaming`` (the tool-call assembler), ``errors``.
"""
