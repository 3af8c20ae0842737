"""The next version of a dataset directory: built beside it, swapped in whole.

The files a write leaves as they are become hard links in the new version (the same inode and
modification time: nothing is copied, and a reader of the old version is undisturbed); the
files it changes are written anew. :func:`~coreclaw_frames.parquet._files.replace_directory`
then puts the version in place, in one step on Linux.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from coreclaw_frames._atomic import fsync_directory, fsync_file, temporary_sibling
from coreclaw_frames.parquet._files import COMPRESSION, replace_directory

#: Why a hard link cannot be made where a copy can: another device, a file system without
#: links, too many links.
NO_LINK = (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS)


def build_version(
    target: Path, keep: list[str], tables: Iterable[tuple[str, pa.Table]]
) -> list[str]:
    """Replace the dataset at ``target`` with its next version: its files named in ``keep``,
    hard-linked unchanged, and the files ``tables`` holds, written. Returns the names written.

    The version is built in a temporary sibling and swapped in whole, so a crash anywhere
    leaves the previous version or this one, never a mix.
    """
    temporary = temporary_sibling(target, ".tmp")
    written: list[str] = []
    try:
        temporary.mkdir()
        for name in keep:
            link_file(target / name, temporary / name)
        for name, table in tables:
            write_data_file(table, temporary / name)
            written.append(name)
        for directory in sorted({path.parent for path in temporary.rglob("*")}):
            fsync_directory(directory)
        replace_directory(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    fsync_directory(target.parent)
    return written


def link_file(source: Path, destination: Path) -> None:
    """``source`` also at ``destination``: a hard link (the same inode and time), or a copy
    where the file system cannot link."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, destination)
    except OSError as exc:
        if exc.errno not in NO_LINK:
            raise
        shutil.copy2(source, destination)
        fsync_file(destination)


def write_data_file(table: pa.Table, path: Path) -> None:
    """One data file of a dataset, flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as file:
        pq.write_table(table, file, compression=COMPRESSION)
        file.flush()
        os.fsync(file.fileno())
