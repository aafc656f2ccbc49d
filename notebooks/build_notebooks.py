"""Write (and optionally run) the notebooks from the cell sources in ``notebooks/sources/``.

The cell sources live in small Python modules, one per notebook (``sources/<name>.py`` builds
``<name>.ipynb``), so they are reviewed and diffed like code. The ``.ipynb`` files are committed
**with the outputs of a real run**:

    .venv/bin/python notebooks/build_notebooks.py --execute          # every notebook
    .venv/bin/python notebooks/build_notebooks.py --execute 01 03    # some of them

Without ``--execute`` the notebooks are written without outputs. ``make test`` runs the
committed notebooks again (``tests/unit_tests/notebooks``) and checks that they still match
these sources.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
CELL_TIMEOUT = 300
"""Seconds one cell may run (the test adds a per-notebook limit on top)."""


def _cells_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"notebook_sources_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sources() -> dict[str, list[tuple[str, str]]]:
    """Notebook name -> its cells as ``(cell_type, source)``, from ``sources/<name>.py``."""
    return {
        path.stem: list(_cells_module(path).CELLS)
        for path in sorted((HERE / "sources").glob("[0-9]*.py"))
    }


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook (no outputs) with ``cells``, for the ``python3`` kernel."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(source))
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:02d}"  # stable ids: rebuilding does not churn the diff
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int = CELL_TIMEOUT) -> float:
    """Run ``nb`` in place from the notebooks folder; returns the seconds it took."""
    started = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNEL["name"],
        resources={"metadata": {"path": str(HERE)}},
    )
    client.execute()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--execute", action="store_true", help="run them and keep the outputs")
    args = parser.parse_args(argv)
    # This environment's kernel specs first (a user-wide `python3` kernel may be another Python).
    os.environ["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    for name, cells in sources().items():
        if args.names and not any(name.startswith(prefix) for prefix in args.names):
            continue
        nb = build(cells)
        note = ""
        if args.execute:
            note = f" (ran in {execute(nb):.1f} s)"
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print(f"wrote notebooks/{name}.ipynb{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
