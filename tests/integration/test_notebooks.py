"""Notebooks are executed, not just stored: every cell must run without error."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_from_top_to_bottom(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook,
        timeout=150,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parents[1])}},
    )
    # A notebook that starts a head node writes its process group here, so that a cell
    # failing before the notebook's own last cell does not leave it running.
    pgids = tmp_path / "pgids"
    monkeypatch.setenv("ORCHESTRATOR_TEST_PGIDS", str(pgids))
    try:
        client.execute()
    finally:
        for pgid in pgids.read_text().split() if pgids.exists() else []:
            with contextlib.suppress(ProcessLookupError):  # ended by the notebook itself
                os.killpg(int(pgid), signal.SIGKILL)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [out for cell in code_cells for out in cell.outputs if out.output_type == "error"]
    assert not errors
    assert all(cell.execution_count is not None for cell in code_cells)
