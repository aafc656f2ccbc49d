"""Import a config's ``actions.py`` in a child process first, so that code which ends the
process (``os._exit``, a crash, ``sys.exit``) or never returns fails that config, with an
error naming the file, instead of taking the server down.

The server probes every ``actions.py`` when it starts and when a reload finds a changed one;
only a file that imports cleanly is then imported in the server itself. This is a guard
against accidents, not a sandbox: configs are code and run with the server's rights.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from langchain_guardrails.config.action_isolation import ActionsFileError

PROBE_TIMEOUT = 60.0
"""Seconds an ``actions.py`` may take to import in the probe."""

_PROBE = (
    "import sys\n"
    "from pathlib import Path\n"
    "from langchain_guardrails.config.actions_file import load_actions_file\n"
    "load_actions_file(Path(sys.argv[1]))\n"
)
_probed: dict[tuple[str, int, int], None] = {}
"""Files (path, size, mtime) that imported cleanly: not probed again until they change."""
_lock = threading.Lock()


def probe_actions_file(path: Path, timeout: float = PROBE_TIMEOUT) -> None:
    """Import ``path`` in a child Python process; :class:`ActionsFileError` naming the file when
    the import fails, ends the process or takes longer than ``timeout`` seconds.

    Example:
        .. code-block:: python

            probe_actions_file(Path("configs/support/actions.py"))
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _probed:
            return
    # The child finds the same packages as this process (e.g. a source checkout on sys.path).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ActionsFileError(f"{path}: importing it took longer than {timeout:g} s") from exc
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        last = lines[-1] if lines else "no error message"
        raise ActionsFileError(
            f"{path}: importing it ended the process with exit code {done.returncode} "
            f"({last[:300]})"
        )
    with _lock:
        _probed[key] = None


__all__ = ["PROBE_TIMEOUT", "probe_actions_file"]
