"""Where the server's logs go when it runs from the command line: stderr, as text or JSON
lines (one handler on the package's logger, in the main process and in every worker)."""

from __future__ import annotations

import logging
import sys


def log_server_to_stderr(json_lines: bool = False) -> None:
    """Show what the server logs (configs it cannot serve, failed generations, rail blocks and
    failures, the access log) on stderr, as text or one JSON object per line.

    The handler sits on the package's logger, so the records of every module (the rail engine's
    failures, model loading) take the same path and format as the server's own; none falls
    through to Python's last-resort handler, which would print them as plain text.
    """
    package_log = logging.getLogger("langchain_guardrails")
    if not any(isinstance(h, _StderrHandler) for h in package_log.handlers):
        handler = _StderrHandler()
        if json_lines:
            from langchain_guardrails.server.operations.access import JSONLogFormatter

            handler.setFormatter(JSONLogFormatter())
        else:
            handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        package_log.addHandler(handler)
    package_log.setLevel(logging.INFO)


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced, e.g. in tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


__all__ = ["log_server_to_stderr"]
