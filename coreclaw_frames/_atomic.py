"""Writing a file so that it is either the old one or the new one, whole, after any crash.

The data go to a hidden temporary sibling (``.<name>.<random>.tmp``), are flushed to disk,
and are renamed over the target; then the directory is flushed too, so the rename itself
survives a power cut. A failure at any point removes the temporary.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "atomic_write", "fsync_directory", "fsync_file", "temporary_sibling"]

TEMPORARY_SUFFIX = ".tmp"


def temporary_sibling(target: Path, suffix: str = TEMPORARY_SUFFIX) -> Path:
    """A new hidden name next to ``target``: ``.<name>.<32 hex digits><suffix>``."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}{suffix}")


@contextmanager
def atomic_open(target: Path, mode: str = "wb", **options: Any) -> Iterator[IO[Any]]:
    """A file to write that replaces ``target`` whole when the block ends without error.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_open(path, "w", encoding="utf-8") as file:
    ...     _ = file.write("all or nothing")
    >>> path.read_text(encoding="utf-8")
    'all or nothing'
    """
    temporary = temporary_sibling(target)
    try:
        with open(temporary, mode.replace("w", "x"), **options) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)


def atomic_write(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data``, whole or not at all."""
    with atomic_open(target) as file:
        file.write(data)


def fsync_file(path: Path) -> None:
    """Flush a file written and closed elsewhere (by a library that took its path) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_directory(directory: Path) -> None:
    """Flush a directory's entries (a rename in it) to disk, where the system allows."""
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    fsync_file(directory)
