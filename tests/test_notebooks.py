"""Every notebook in notebooks/ runs top to bottom cleanly, and is committed with its outputs."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

#: Each notebook starts a kernel and runs top to bottom: seconds apiece.
pytestmark = pytest.mark.slow

nbformat = pytest.importorskip("nbformat")
NotebookClient = pytest.importorskip("nbclient").NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
EXPECTED = {
    "quickstart.ipynb",
    "cost_report.ipynb",
    "results.ipynb",
    "spend_outlook.ipynb",
    "your_account.ipynb",
}
TESTS = Path(__file__).parent
ENVIRONMENT = ("CORECLAW_API_KEY", "CORECLAW_BASE_URL", "CORECLAW_API_VERSION")
#: Run first: every figure the notebook shows is checked by tests/figure_layout.py just
#: before it is drawn for the page.
CHECK_LAYOUT = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
import matplotlib.backend_bases
from figure_layout import layout_problems

_LAYOUT_PROBLEMS = []
_print_figure = matplotlib.backend_bases.FigureCanvasBase.print_figure
def _checked_print_figure(self, *args, **kwargs):
    _LAYOUT_PROBLEMS.extend(layout_problems(self.figure))
    return _print_figure(self, *args, **kwargs)
matplotlib.backend_bases.FigureCanvasBase.print_figure = _checked_print_figure
"""
#: Run last.
ASSERT_LAYOUT = "assert not _LAYOUT_PROBLEMS, _LAYOUT_PROBLEMS"


def code_outputs(notebook: Any) -> list[Any]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def problems(outputs: list[Any]) -> list[str]:
    """Errors, and anything written to stderr or mentioning a warning."""
    found = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    for output in outputs:
        if output.output_type == "stream" and (output.name == "stderr" or "Warning" in output.text):
            found.append(output.text)
    return found


def images(outputs: list[Any]) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs)


def test_the_notebooks_are_there() -> None:
    assert {path.name for path in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_clean(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:  # the sandbox, never a real account, even on a developer's machine
        monkeypatch.delenv(name, raising=False)
    notebook = copy.deepcopy(nbformat.read(path, as_version=4))
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    notebook.cells.insert(0, nbformat.v4.new_code_cell(CHECK_LAYOUT))
    notebook.cells.append(nbformat.v4.new_code_cell(ASSERT_LAYOUT))
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = code_outputs(notebook)
    assert not problems(outputs)
    assert images(outputs) >= 1  # the plots were drawn


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_with_its_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), "not executed"
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    outputs = code_outputs(notebook)
    assert not problems(outputs)
    assert images(outputs) >= 1
    assert path.stat().st_size < 1_000_000  # small enough to read on a repository page


def first_table(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return next(
        o.data["text/html"] for o in code_outputs(notebook) if "text/html" in o.get("data", {})
    )


def test_the_quickstart_first_table_shows_finished_runs_readably() -> None:
    table = first_table(NOTEBOOKS[[p.name for p in NOTEBOOKS].index("quickstart.ipynb")])
    assert "succeeded" in table
    assert not re.search(r">(ready|running|aborting)<", table)
    assert "NaT" not in table and not re.search(r"\dE-\d", table)
    assert re.search(r">\$\d+\.\d{4}<", table)  # costs in dollars
    assert re.search(r">\d+:\d\d:\d\d<", table)  # durations as h:mm:ss


def test_your_account_says_first_that_it_runs_on_the_sandbox() -> None:
    notebook = nbformat.read(
        NOTEBOOKS[[p.name for p in NOTEBOOKS].index("your_account.ipynb")], as_version=4
    )
    first = code_outputs(notebook)[0]
    assert first.output_type == "stream" and "sandbox" in first.text
    assert "CORECLAW_API_KEY" in first.text


def test_spend_outlook_shows_the_outlook_and_catches_the_three_dear_runs() -> None:
    path = NOTEBOOKS[[p.name for p in NOTEBOOKS].index("spend_outlook.ipynb")]
    page = first_table(path)
    assert "Projected month-end" in page and "80% interval" in page and "Runway" in page
    outputs = code_outputs(nbformat.read(path, as_version=4))
    tables = [
        o.data["text/plain"] for o in outputs if "×" in o.get("data", {}).get("text/plain", "")
    ]
    assert len(tables) == 1 and tables[0].count("×") == 3
