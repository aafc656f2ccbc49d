"""The console at ``/ui``: a playground whose answer streams as a client sees it, the live
timeline of that run's windows and rails, per-rail figures of the server's metrics, and eval
runs with their report. Static files (``static/``) are plain HTML, CSS and JavaScript.

Only console requests pay for it: its run endpoint attaches a listener to its own guarded run;
other routes are untouched. It imports the protocol room (the chat route's own guarded run),
operations (metrics) and ``eval``; ``server.app`` mounts it.
"""

from langchain_guardrails.server.console.routes import add_console_routes

__all__ = ["add_console_routes"]
