"""The parameters the charts share, documented once (as seaborn's ``_docstrings``).

A chart's docstring names a shared parameter by a placeholder on a line of its own
(``{data}``, ``{by}``, ``{hue}``, ``{ax}``, ``{top}``, ``{orient}``, ``{label_chars}``,
``{kwargs}``), and :func:`shared_docs` fills the text in: change it here and every chart, and
every ``df.coreclaw`` method built from one, says the same.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["PARAMETERS", "passed_to", "shared_docs"]

F = TypeVar("F", bound=Callable[..., Any])

#: Each shared parameter's numpydoc entry: its name, then its text indented by four spaces.
PARAMETERS: dict[str, str] = {
    "data": """\
data
    A run frame; rows whose fetch failed are left out.""",
    "by": """\
by
    Column whose values are the groups (worker title or slug, version, origin, status...).
    ``"version"`` groups by worker and version, named ``"<worker> · <version>"``.""",
    "hue": """\
hue
    Optional column splitting each group by colour (at most
    :data:`~coreclaw_frames.plots.DEFAULT_HUE_TOP` values and a grey, hatched "other").""",
    "ax": """\
ax
    Axes to draw on; default the current Axes.""",
    "top": """\
top
    Most groups drawn before the cheapest are pooled into one grey, hatched "other (N)"
    group, drawn last.""",
    "orient": """\
orient
    ``"v"``: groups along the x axis (default); ``"h"``: groups down the y axis, their names
    never tilted.""",
    "label_chars": """\
label_chars
    Longest group name shown; longer ones are shortened with an ellipsis (a version is
    kept whole).""",
}


def passed_to(target: str) -> str:
    """The ``**kwargs`` entry of a chart whose extra keyword arguments go to ``target``.

    Examples
    --------
    >>> print(passed_to(":meth:`matplotlib.axes.Axes.bar`"))
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.bar`.
    """
    return f"**kwargs\n    Passed to {target}."


def shared_docs(**entries: str) -> Callable[[F], F]:
    """Fill the placeholders of the decorated function's docstring with :data:`PARAMETERS`
    and ``entries`` (``kwargs=passed_to(...)``, say). The docstring comes out dedented, as
    :func:`inspect.cleandoc` leaves it; a placeholder it lacks an entry for is a KeyError at
    import, never a gap in the docs.

    Examples
    --------
    >>> @shared_docs(kwargs=passed_to("``print``"))
    ... def f(data, ax=None, **kwargs):
    ...     '''Draw.
    ...
    ...     Parameters
    ...     ----------
    ...     {ax}
    ...     {kwargs}
    ...     '''
    >>> print(f.__doc__.split("----------")[1].strip())
    ax
        Axes to draw on; default the current Axes.
    **kwargs
        Passed to ``print``.
    """

    def fill(function: F) -> F:
        text = inspect.cleandoc(function.__doc__ or "")
        function.__doc__ = text.format_map({**PARAMETERS, **entries})
        return function

    return fill
