"""Progress bars: a widget in Jupyter with ipywidgets, text without it, never a warning."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
import tqdm
import tqdm.notebook

from coreclaw_frames import _progress


class ZMQInteractiveShell:
    """Stands for the shell of a Jupyter kernel (only its class name is looked at)."""


@pytest.fixture
def in_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = ZMQInteractiveShell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)


def test_outside_jupyter_the_bar_is_text() -> None:
    assert _progress.bar_class() is tqdm.tqdm


def test_in_a_kernel_without_ipywidgets_the_bar_is_text(
    in_a_kernel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tqdm.notebook, "IProgress", None)  # what tqdm finds without ipywidgets
    bar = _progress.progress_bar(total=3, desc="runs", unit="run", disable=False)
    try:
        assert type(bar) is tqdm.tqdm
    finally:
        bar.close()


def test_in_a_kernel_with_ipywidgets_the_bar_is_a_widget(in_a_kernel: None) -> None:
    pytest.importorskip("ipywidgets")
    assert _progress.bar_class() is tqdm.notebook.tqdm


# --- a real kernel without ipywidgets ------------------------------------------------------

nbformat = pytest.importorskip("nbformat")
NotebookClient = pytest.importorskip("nbclient").NotebookClient

#: A kernel where ipywidgets cannot be imported fetches with a progress bar.
WITHOUT_WIDGETS = [
    "import sys\nsys.modules['ipywidgets'] = None  # as if not installed",
    "import coreclaw_frames as ccf\nfrom coreclaw_frames.sandbox import serve",
    (
        "with serve(runs=20) as srv:\n"
        "    client = ccf.Client(api_key=srv.api_key, base_url=srv.url)\n"
        "    slugs = [run['slug'] for run in srv.account.runs]\n"
        "    frame = ccf.fetch_runs(slugs, client=client, progress=True)\n"
        "len(frame)"
    ),
]


def outputs_of(cells: list[str], path: Any) -> list[Any]:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(notebook, timeout=120, resources={"metadata": {"path": str(path)}}).execute()
    return [output for cell in notebook.cells for output in cell.outputs]


@pytest.mark.slow
def test_a_kernel_without_ipywidgets_draws_a_text_bar_without_warning(tmp_path: Any) -> None:
    outputs = outputs_of(WITHOUT_WIDGETS, tmp_path)
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "Warning" not in stderr and "IProgress" not in stderr
    assert "runs: 100%" in stderr  # the text bar, drawn to the end
    assert not any(o.output_type == "error" for o in outputs)
    assert outputs[-1]["data"]["text/plain"] == "20"
