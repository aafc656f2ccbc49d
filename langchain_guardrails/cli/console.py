"""``langchain-guardrails console --config DIR``: the console of a config folder (or a folder
of them) on an embedded server on 127.0.0.1; prints the URL and opens a browser."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any

from langchain_guardrails.errors import EXIT_OK, CLIError


def add_console_parser(commands: Any) -> None:
    """Register ``console`` on the CLI's sub-parsers (called by ``cli.main``)."""
    parser = commands.add_parser(
        "console", help="open the console (playground, timeline, rails, eval) locally"
    )
    parser.add_argument("--config", required=True, help="config folder, or folder of configs")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free)")
    parser.add_argument("--no-browser", action="store_true", help="print the URL only")
    parser.add_argument(
        "--console-debug",
        action="store_true",
        help="also show unreleased model text in the console (marked on every page)",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve the console until interrupted; returns the exit code."""
    from langchain_guardrails.errors import require

    uvicorn = require("uvicorn", "serve")
    from langchain_guardrails.server import create_app

    folder = Path(args.config)
    if not folder.is_dir():
        raise CLIError(f"--config {folder}: no such folder")
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be within 0..65535 (got {args.port})")
    app = create_app(folder, preload=True, console_debug=args.console_debug)
    ids = [i for i in app.state.registry.ids() if i not in app.state.config_errors]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", args.port))
    except OSError as exc:
        raise CLIError(f"--port {args.port}: cannot listen ({exc.strerror})") from exc
    sock.listen(128)  # connections wait in the queue from now on, before uvicorn starts
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ui" + (f"?config={ids[0]}" if len(ids) == 1 else "")
    print(f"Console of {', '.join(ids)} at {url}", file=sys.stderr, flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(app, log_level=args.log_level, access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return EXIT_OK


__all__ = ["add_console_parser", "run"]
