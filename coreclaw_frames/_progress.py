"""Progress bars: tqdm's widget in a Jupyter kernel that has ipywidgets, its text bar elsewhere.

``tqdm.auto`` chooses the same way, but in a Jupyter kernel without ipywidgets it warns
(``IProgress not found``) as soon as it is imported. ipywidgets is optional here (the
``notebook`` extra brings it), and the text bar draws fine in Jupyter, so the choice is made
without the warning, when a bar is made.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

__all__ = ["bar_class", "progress_bar"]


def bar_class() -> type[tqdm]:
    """The widget bar in a Jupyter kernel where ipywidgets imports, the text bar otherwise.

    Examples
    --------
    >>> bar_class() is tqdm  # a terminal, a script, a test run
    True
    """
    if _in_jupyter_kernel():
        from tqdm import notebook  # imports quietly; IProgress is None without ipywidgets

        if notebook.IProgress is not None:
            return notebook.tqdm
    return tqdm


def progress_bar(*, total: int, desc: str, unit: str, disable: bool) -> tqdm:
    """A progress bar of ``total`` steps, drawn as :func:`bar_class` says (or not at all).

    Examples
    --------
    >>> with progress_bar(total=2, desc="runs", unit="run", disable=True) as bar:
    ...     bar.update(2)
    """
    return bar_class()(total=total, desc=desc, unit=unit, disable=disable)


def _in_jupyter_kernel() -> bool:
    # Never imports IPython: a kernel has imported it already.
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"
