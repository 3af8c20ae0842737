"""Warnings attributed to the user's line, not to the package's internals."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

__all__ = ["warn"]

#: Frames in these files never count as the caller's: the package's own, and contextlib's,
#: which sit between a ``with`` statement and the package's context managers.
_INTERNAL_FILES = (os.path.dirname(os.path.abspath(__file__)) + os.sep, contextlib.__file__)


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` from the first frame outside the package (Python 3.11 has no
    ``skip_file_prefixes``)."""
    warnings.warn(message, category, stacklevel=_outside_stacklevel())


def _outside_stacklevel() -> int:
    """The ``stacklevel`` of :func:`warn`'s first caller outside the package."""
    level = 2  # warn's caller
    frame = sys._getframe(level)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_INTERNAL_FILES):
        frame = frame.f_back
        level += 1
    return level
