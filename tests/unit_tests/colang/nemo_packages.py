"""NeMo Guardrails' own config folders, read from its packages published on PyPI.

`make nemo-packages` downloads the packages (``pip download --no-deps``) into
``.venv/nemo-packages/``; nothing from them is committed here. A test extracts the folder it
needs, byte for byte, into its ``tmp_path`` and is skipped, saying why, when the archive is
absent. No code of the packages is imported: only a folder's own ``actions.py`` is loaded, by
our config loader, as a user's would be.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import pytest

PACKAGES = Path(__file__).parents[3] / ".venv" / "nemo-packages"
SKIP_REASON = "run make nemo-packages (downloads NeMo Guardrails' published packages from PyPI)"

# The sdist of 0.17.0 holds NeMo's docs and examples; the wheels hold the library (0.24.1,
# current) and, for 0.8.3 (before rail exceptions), the examples as they were then.
SDIST_0_17 = "nemoguardrails-0.17.0.tar.gz"
WHEEL_0_24 = "nemoguardrails-0.24.1-py3-none-any.whl"
WHEEL_0_8 = "nemoguardrails-0.8.3-py3-none-any.whl"
BLOCKED_TERMS = "docs/getting-started/5-output-rails/config"
"""NeMo's getting-started output rail: ``check blocked terms`` in ``rails/blocked_terms.co``."""

# The sdist leaves out the getting-started folder's actions.py (NeMo's guide shows it inline):
# written here as the guide gives it, True = blocked, which the folder's `if $is_blocked` reads.
BLOCKED_TERMS_ACTIONS = """\
from typing import Optional

from nemoguardrails.actions import action


@action(is_system_action=True)
async def check_blocked_terms(context: Optional[dict] = None):
    bot_response = context.get("bot_message")

    # A quick hard-coded list of proprietary terms. You can also read this from a file.
    proprietary_terms = ["proprietary", "proprietary technology"]

    for term in proprietary_terms:
        if term in bot_response.lower():
            return True

    return False
"""


def _archive(name: str) -> Path:
    path = PACKAGES / name
    if not path.is_file():
        pytest.skip(f"{name} is not in {PACKAGES}: {SKIP_REASON}")
    return path


def _members(name: str) -> dict[str, bytes]:
    """Every file of the archive by its path inside the package (an sdist's top folder cut)."""
    path = _archive(name)
    files: dict[str, bytes] = {}
    if name.endswith(".whl"):
        with zipfile.ZipFile(path) as wheel:
            for info in wheel.infolist():
                if not info.is_dir():
                    files[info.filename] = wheel.read(info)
        return files
    with tarfile.open(path) as sdist:
        for member in sdist.getmembers():
            extracted = sdist.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[member.name.split("/", 1)[1]] = extracted.read()
    return files


def nemo_file(package: str, path: str) -> bytes:
    """One file of a NeMo package, unchanged."""
    files = _members(package)
    if path not in files:
        raise FileNotFoundError(f"{path} is not in {package}")
    return files[path]


def nemo_folder(package: str, folder: str, target: Path) -> Path:
    """Extract ``folder`` of a NeMo package, unchanged, into ``target`` and return ``target``."""
    prefix = folder.rstrip("/") + "/"
    found = {p: data for p, data in _members(package).items() if p.startswith(prefix)}
    if not found:
        raise FileNotFoundError(f"{folder} is not in {package}")
    for path, data in found.items():
        destination = target / path[len(prefix) :]
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
    return target


def blocked_terms_folder(target: Path) -> Path:
    """The getting-started blocked-terms folder of the 0.17.0 sdist with its guide's
    ``actions.py``."""
    path = nemo_folder(SDIST_0_17, BLOCKED_TERMS, target)
    (path / "actions.py").write_text(BLOCKED_TERMS_ACTIONS)
    return path
