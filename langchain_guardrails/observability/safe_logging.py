"""Failures logged without the text they carry: exception types and frames, never messages.

An exception raised by a rail or by a malformed model chunk often quotes its input (``could not
parse window: 'password is hunter2 …'``): unreleased window text or model text the user may
never see. ``logger.exception`` / ``exc_info=`` would write that message, and the messages of
every chained cause, into the log. :func:`log_failure` logs the exception's type and a
traceback whose frames are kept (file, line, function, source line: code, never values) and
whose exception messages are replaced, through the normal logging path, so the server's
``--log-format json`` formatter (and any handler an application configures) formats it as any
other record.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

REDACTED = "[message redacted]"
"""What stands for an exception's message in a logged traceback."""

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_MAX_CHAIN = 32
"""Chained exceptions shown at most (a cycle or a runaway chain stops there)."""


def redacted_traceback(error: BaseException) -> str:
    """The traceback of ``error`` and its chained causes as Python prints it, except that each
    exception's message is :data:`REDACTED` (exception notes are left out too).

    Example:
        .. code-block:: python

            try:
                raise ValueError("could not parse window: 'hunter2'")
            except ValueError as exc:
                redacted_traceback(exc)  # '... ValueError: [message redacted]\\n'
    """
    return "".join(_lines(error, ""))


def _lines(error: BaseException, indent: str) -> list[str]:
    chain: list[tuple[BaseException, str]] = []  # newest first, with how it links to the next
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(chain) < _MAX_CHAIN:
        seen.add(id(current))
        if current.__cause__ is not None:
            chain.append((current, _CAUSE))
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            chain.append((current, _CONTEXT))
            current = current.__context__
        else:
            chain.append((current, ""))
            current = None
    out: list[str] = []
    for position, (exc, link) in enumerate(reversed(chain)):
        if position:
            # Oldest first, as Python prints it: ``link`` ties ``exc`` to the one just printed.
            out.append(_indented(link, indent))
        if exc.__traceback__ is not None:
            out.append(f"{indent}Traceback (most recent call last):\n")
            out.extend(_indented(frame, indent) for frame in traceback.format_tb(exc.__traceback__))
        out.append(f"{indent}{_type_name(exc)}{': ' + REDACTED if exc.args else ''}\n")
        for number, inner in enumerate(getattr(exc, "exceptions", None) or (), 1):
            if isinstance(inner, BaseException):  # an exception group's members
                out.append(f"{indent}  +-- {number} --\n")
                out.extend(_lines(inner, indent + "  | "))
    return out


def _indented(text: str, indent: str) -> str:
    if not indent:
        return text
    return "".join(indent + line for line in text.splitlines(keepends=True))


def _type_name(error: BaseException) -> str:
    kind = type(error)
    module = kind.__module__
    if module in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{module}.{kind.__qualname__}"


def log_failure(
    logger: logging.Logger,
    level: int,
    message: str,
    *args: Any,
    error: BaseException,
    **fields: Any,
) -> None:
    """Log ``message % args`` with ``error``'s type (``exception_type``) and its
    :func:`redacted_traceback`, plus structured ``fields`` (``rail``, ``stage``, ...).

    The traceback is the record's ``exc_text``: every ``logging.Formatter`` appends it after
    the message, and the server's JSON formatter puts it in a ``traceback`` field. The record
    has no ``exc_info``, so no formatter can print the exception's message.

    Example:
        .. code-block:: python

            log_failure(logger, logging.WARNING, "rail %r failed", name, error=exc, rail=name)
    """
    if not logger.isEnabledFor(level):
        return
    # The caller's file and line, not this function's.
    filename, line, function, _ = logger.findCaller(False, 2)
    extra = {"exception_type": type(error).__name__, **fields}
    record = logger.makeRecord(
        logger.name, level, filename, line, message, args, None, function, extra
    )
    record.exc_text = redacted_traceback(error)
    logger.handle(record)


__all__ = ["REDACTED", "log_failure", "redacted_traceback"]
