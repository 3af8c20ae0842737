"""A Griffe extension for the API reference: numpydoc docstrings rendered as Markdown.

The site renders docstrings as Markdown, which knows no Sphinx roles. As each docstring is
loaded, before it is parsed:

* each Sphinx role (:func:`summary`, :class:`~coreclaw_frames.AccountInfo`) becomes the code
  span Sphinx would show: the name as written, or its last part after a ``~``;
* a docstring whose parameters are filled in at import (``{data}`` lines, see
  ``coreclaw_frames.plots._docstrings``) is read from the imported function instead.

Every doctest is in an ``Examples`` section (``tests/test_docstrings.py``), which the numpydoc
parser renders as code.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import griffe

#: ``:role:`target``` and ``:role:`~path.to.target```, for any role name.
ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`]+)`")
#: A line that is only a placeholder, filled in when the module is imported.
PLACEHOLDER = re.compile(r"^\s*\{\w+\}\s*$", re.M)


def without_roles(text: str) -> str:
    """``text`` with each Sphinx role replaced by a Markdown code span of what Sphinx shows.

    Examples
    --------
    >>> without_roles("See :func:`summary` and :class:`~coreclaw_frames.AccountInfo`.")
    'See `summary` and `AccountInfo`.'
    """

    def shown(role: re.Match[str]) -> str:
        short, target = role[1], role[2]
        return f"`{target.rsplit('.', 1)[-1] if short else target}`"

    return ROLE.sub(shown, text)


class MarkdownDocstrings(griffe.Extension):
    """Rewrites every docstring as it is loaded, before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **_: Any) -> None:
        if obj.docstring is None:
            return
        if PLACEHOLDER.search(obj.docstring.value):
            obj.docstring.value = inspect.cleandoc(griffe.dynamic_import(obj.path).__doc__)
        obj.docstring.value = without_roles(obj.docstring.value)
