"""``langchain-guardrails``: chat with a guarded model, serve it, or run its rails once.

Exit codes: 0 success (``check``: passed or modified), 1 ``check`` blocked, 2 bad usage or a
missing/broken config, 3 a runtime failure (model error, server unreachable or refusing),
130 interrupted.

Example:
    .. code-block:: bash

        langchain-guardrails chat --config examples/configs/streaming --streaming --verbose
        langchain-guardrails server --config examples/configs --port 8000
        langchain-guardrails console --config examples/configs   # the console in a browser
        langchain-guardrails check --config examples/configs/streaming --output "The password is x"
        langchain-guardrails check --nemo ./my_nemo_configs        # migration report
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_guardrails.errors import (
    EXIT_BLOCKED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    ConfigError,
    MissingExtraError,
)
from langchain_guardrails.server.operations.log_setup import log_server_to_stderr

API_KEY_ENV = "LANGCHAIN_GUARDRAILS_API_KEY"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Example:
        .. code-block:: python

            main(["check", "--config", "examples/configs/streaming", "--input", "Hello"])
    """
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except CLIError as exc:
        _error(str(exc))
        return exc.code
    except (ConfigError, MissingExtraError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="langchain-guardrails",
        description="Input and output guardrails around a chat model, with streaming.",
        epilog="Exit codes: 0 ok, 1 blocked (check), 2 usage/config error, 3 runtime failure.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chat = commands.add_parser("chat", help="chat with a guarded model in the terminal")
    chat.add_argument("--config", help="config folder (not needed with --server-url)")
    chat.add_argument("--streaming", action="store_true", help="print tokens as they arrive")
    chat.add_argument("--verbose", action="store_true", help="print rails and usage per turn")
    chat.add_argument("--server-url", help="chat through a running server instead")
    chat.add_argument("--config-id", help="config on the server (default: the server's)")
    chat.add_argument(
        "--api-key", default=os.environ.get(API_KEY_ENV), help=f"server API key (env {API_KEY_ENV})"
    )
    chat.add_argument("--no-color", action="store_true", help="never colour the output")
    chat.set_defaults(run=_chat)

    server = commands.add_parser("server", help="serve configs over an OpenAI-compatible API")
    server.add_argument("--config", required=True, help="folder of config folders, or one config")
    server.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    server.add_argument(
        "--api-key",
        action="append",
        default=None,
        help=f"require this bearer token (repeatable; env {API_KEY_ENV}, comma-separated)",
    )
    server.add_argument(
        "--langserve", action="store_true", help="also mount LangServe routes at /configs/{id}"
    )
    server.add_argument("--default-config-id", help="config for requests that name none")
    server.add_argument(
        "--max-concurrency", type=int, default=128, help="concurrent generations (more get 503)"
    )
    server.add_argument(
        "--cors-origin", action="append", default=None, help="allow this CORS origin (repeatable)"
    )
    server.add_argument(
        "--nemo-errors",
        action="store_true",
        help="NeMo-style top-level error object on streamed blocks",
    )
    server.add_argument("--log-level", default="info", help="uvicorn log level")
    server.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="server log lines"
    )
    server.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        help="also serve requests whose Host header is this name (repeatable; '*': any)",
    )
    server.add_argument(
        "--body-timeout", type=float, default=10.0, help="seconds for a request body (408)"
    )
    server.add_argument(
        "--header-timeout", type=float, default=10.0, help="seconds for request headers"
    )
    server.add_argument(
        "--request-timeout", type=float, default=600.0, help="seconds a generation may take"
    )
    server.add_argument(
        "--no-actions",
        action="store_true",
        help="refuse configs that carry Python code (actions.py). Configs are code: an "
        "actions.py runs in the server with its rights; serve only folders you trust. Each "
        "actions.py is imported at start-up (a bad one stops it, naming the file)",
    )
    server.add_argument(
        "--rail-threads", type=int, default=None, help="threads for sync rails (default 32)"
    )
    server.add_argument(
        "--rail-metrics",
        action="store_true",
        help="time every rail run in /metrics (costs some throughput)",
    )
    server.add_argument(
        "--no-fast-path",
        action="store_true",
        help="stream engine: openai upstreams through ChatOpenAI, not the light client",
    )
    server.add_argument(
        "--workers", type=int, default=1, help="server processes on the port (default 1)"
    )
    server.add_argument(
        "--max-concurrency-per-key",
        type=int,
        default=None,
        help="concurrent generations per API key, or per client address without --api-key"
        " (more get 429)",
    )
    server.add_argument(
        "--rpm-per-key",
        type=int,
        default=None,
        help="generation requests per minute per API key (per client address without --api-key)",
    )
    server.add_argument(
        "--redis-url",
        default=None,
        help="keep per-key limits in Redis, shared by workers and machines",
    )
    server.add_argument(
        "--redis-lease-seconds",
        type=float,
        default=30.0,
        help="with --redis-url, a killed worker's per-key slots return after this (default 30)",
    )
    server.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="on SIGTERM, seconds open streams may take to finish; streams still open then end"
        " with a server_shutting_down error (default 30)",
    )
    server.add_argument(
        "--console-debug",
        action="store_true",
        help="the console at /ui also shows unreleased model text (marked on every page; "
        "private servers only)",
    )
    server.set_defaults(run=_server)

    check = commands.add_parser(
        "check", help="run the rails of a config once and print the decision"
    )
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="config folder")
    source.add_argument(
        "--nemo",
        metavar="FOLDER",
        help="report what of a NeMo Guardrails config folder (or folder of them) will run",
    )
    check.add_argument("--input", help="user message to check with the input rails")
    check.add_argument("--output", help="model answer to check with the output rails")
    check.add_argument("--json", action="store_true", help="print the decision as JSON")
    check.set_defaults(run=_check)

    from langchain_guardrails.eval.cli import add_eval_parser

    add_eval_parser(commands)
    from langchain_guardrails.cli.console import add_console_parser

    add_console_parser(commands)
    return parser


# -- check ---------------------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    if args.nemo is not None:
        return _check_nemo(args)
    if args.input is None and args.output is None:
        raise CLIError("check needs --input TEXT and/or --output TEXT")
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

    from langchain_guardrails.server.protocol.checks import run_checks

    guarded = _load(args.config)
    messages: list[BaseMessage] = []
    stages = []
    if args.input is not None:
        messages.append(HumanMessage(content=args.input))
        stages.append("input")
    if args.output is not None:
        messages.append(AIMessage(content=args.output))
        stages.append("output")
    result = asyncio.run(run_checks(guarded, messages, stages))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        for key in ("status", "stage", "rail", "reason", "content"):
            if result.get(key) is not None:
                print(f"{key}: {result[key]}")
    return EXIT_BLOCKED if result["status"] == "blocked" else EXIT_OK


def _check_nemo(args: argparse.Namespace) -> int:
    from langchain_guardrails.nemo.check import check_folder, config_folders

    root = Path(args.nemo)
    if not root.is_dir():
        raise CLIError(f"--nemo {root}: no such folder")
    folders = config_folders(root)
    if not folders:
        raise CLIError(f"--nemo {root}: no config.yml in this folder or its sub-folders")
    reports = [check_folder(folder) for folder in folders]
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(r.text() for r in reports))
    return EXIT_OK if all(r.will_run for r in reports) else EXIT_USAGE


# -- server --------------------------------------------------------------------------------------


def _server(args: argparse.Namespace) -> int:
    from langchain_guardrails.errors import require

    uvicorn = require("uvicorn", "serve")
    from langchain_guardrails.server import create_app

    folder = Path(args.config)
    if not folder.is_dir():
        raise CLIError(f"--config {folder}: no such folder")
    log_server_to_stderr(json_lines=args.log_format == "json")
    from langchain_guardrails.server.operations.browser import LOOPBACK_HOSTS
    from langchain_guardrails.server.operations.http_protocol import header_timeout_protocol

    if args.workers < 1:
        raise CLIError(f"--workers must be >= 1 (got {args.workers})")
    if args.drain_timeout < 0:
        raise CLIError(f"--drain-timeout must be >= 0 (got {args.drain_timeout:g})")
    if not args.redis_lease_seconds >= 0.3:
        raise CLIError(f"--redis-lease-seconds must be >= 0.3 (got {args.redis_lease_seconds:g})")
    keys = args.api_key or [k for k in os.environ.get(API_KEY_ENV, "").split(",") if k.strip()]
    local = _is_loopback(args.host)
    bound = [*LOOPBACK_HOSTS] if local else [args.host]
    settings: dict[str, Any] = dict(
        api_key=[k.strip() for k in keys] or None,
        langserve=args.langserve,
        default_config_id=args.default_config_id,
        max_concurrency=args.max_concurrency,
        cors_origins=args.cors_origin,
        allowed_hosts=[*bound, *args.allowed_host],
        body_timeout=args.body_timeout,
        request_timeout=args.request_timeout,
        allow_actions=not args.no_actions,
        rail_metrics=args.rail_metrics,
        reload_on_sighup=True,
        nemo_errors=args.nemo_errors,
        preload=True,
        fast_path=not args.no_fast_path,
        max_concurrency_per_key=args.max_concurrency_per_key,
        requests_per_minute_per_key=args.rpm_per_key,
        redis_url=args.redis_url,
        key_lease_seconds=args.redis_lease_seconds,
        drain_timeout=args.drain_timeout,
        console_debug=args.console_debug,
    )
    if args.rail_threads is not None:
        from langchain_guardrails.rails.executor import configure_rail_executor

        configure_rail_executor(args.rail_threads)
    # Built here in every case: a broken config folder fails now, before workers start.
    app = create_app(folder, **settings)
    if not keys and not _is_loopback(args.host):
        _error(f"warning: serving on {args.host} without an API key (set --api-key)")
    if not local and not args.allowed_host:
        _error(
            f"warning: only requests with Host {args.host} are served; pass --allowed-host NAME "
            "for each name clients use (or '*')"
        )
    ids = ", ".join(i for i in app.state.registry.ids() if i not in app.state.config_errors)
    suffix = f" ({args.workers} workers)" if args.workers > 1 else ""
    serving = f"Serving configs {ids} on http://{args.host}:{args.port}/v1{suffix}"
    if args.log_format == "json":  # every line on stderr is then one JSON object
        logging.getLogger("langchain_guardrails.server").info(serving)
    else:
        print(serving, file=sys.stderr)
    options: dict[str, Any] = dict(
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,  # the server's own access log carries request ids
        # SIGTERM: stop accepting, let open streams finish for up to this long.
        timeout_graceful_shutdown=args.drain_timeout,
    )
    if args.log_format == "json":
        from langchain_guardrails.server.operations.access import uvicorn_json_logging

        options["log_config"] = uvicorn_json_logging()
    if args.workers == 1:
        uvicorn.run(app, http=header_timeout_protocol(args.header_timeout), **options)
        return EXIT_OK
    return _serve_workers(uvicorn, args, settings, options)


def _serve_workers(
    uvicorn: Any, args: argparse.Namespace, settings: dict[str, Any], options: dict[str, Any]
) -> int:
    import shutil
    import tempfile

    from langchain_guardrails.server import workers

    # One folder per server, shared by its workers: metrics (summed) and reload generations.
    state = Path(tempfile.mkdtemp(prefix="langchain-guardrails-"))
    try:
        (state / "metrics").mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(state / "metrics")
        settings.update(
            config_path=args.config,
            rail_threads=args.rail_threads,
            log_format=args.log_format,
            state_dir=str(state),
        )
        os.environ.update(workers.worker_environment(settings, args.header_timeout))
        config = uvicorn.Config(
            workers.APP, factory=True, workers=args.workers, http=workers.PROTOCOL, **options
        )
        workers.run_workers(config, state)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    return EXIT_OK


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("langchain-stream-guardrails")
    except PackageNotFoundError:
        return "unknown"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- chat ----------------------------------------------------------------------------------------


def _chat(args: argparse.Namespace) -> int:
    from langchain_guardrails.cli.terminal import ChatSession, LocalBackend, RemoteBackend

    if args.server_url:
        backend: Any = RemoteBackend(args.server_url, args.config_id, args.api_key)
    elif args.config:
        backend = LocalBackend(_load(args.config))
    else:
        raise CLIError("chat needs --config PATH or --server-url URL")
    color = not args.no_color and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    session = ChatSession(backend, streaming=args.streaming, verbose=args.verbose, color=color)
    return session.run(sys.stdin, interactive=sys.stdin.isatty())


# -- helpers -------------------------------------------------------------------------------------


def _load(path: str) -> Any:
    """One config folder (or YAML file) as a ``Guardrails``, with errors that say what to do."""
    from langchain_guardrails.config.rails_config import CONFIG_FILE_NAMES, RailsConfig
    from langchain_guardrails.guard.chat_model import Guardrails

    folder = Path(path)
    if not folder.exists():
        raise CLIError(f"--config {folder}: no such file or folder")
    if folder.is_dir() and not any((folder / n).is_file() for n in CONFIG_FILE_NAMES):
        inner = sorted(
            d.name for d in folder.iterdir() if any((d / n).is_file() for n in CONFIG_FILE_NAMES)
        )
        if inner:
            raise CLIError(
                f"--config {folder} holds several configs ({', '.join(inner)}); "
                f"pass one of them, e.g. --config {folder / inner[0]}"
            )
    return Guardrails(config=RailsConfig.from_path(folder))


def _error(message: str) -> None:
    prefix = "" if message.startswith("warning:") else "error: "
    print(f"{prefix}{message}", file=sys.stderr, flush=True)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
