"""Running the gateway: API keys and Host/Origin rules (``auth``, ``browser``), limits
(``limits``, ``key_limits`` with Redis), the access log and its setup (``access``,
``log_setup``), metrics and traces (``telemetry``, ``tracing``, ``activity``), workers, config
the end of a request whose client left (``disconnects``), drain (``drain``), uvicorn's header
timeout (``http_protocol``), health (``health``) and the isolated check of a config's code
(``action_probe``). The processes themselves (workers, reloads) are ``server.workers`` and
``server.fleet``.

Imports: ``config``, ``observability``, ``rails.executor``, ``errors``.
"""
