"""Writing a frame where ``-o`` says: a Parquet file or dataset, or a CSV file.

The target is checked before anything is fetched (its directory, its format and, for
``--merge``, the kind of frame it holds), so a bad ``-o`` costs no requests; both formats are
written atomically (a temporary sibling, then a rename).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from coreclaw_frames._atomic import atomic_open
from coreclaw_frames._errors import ParquetFormatError
from coreclaw_frames.cli._common import CSV_SUFFIX, PARQUET_SUFFIX, CommandError, UsageError
from coreclaw_frames.display import csv_frame
from coreclaw_frames.parquet import FRAME_METADATA_KEY, to_parquet
from coreclaw_frames.parquet._files import read_unlocked, stored_layout
from coreclaw_frames.parquet._layout import FrameKind

__all__ = ["Output", "check_output", "check_parent", "write_frame"]

#: What each kind of frame is, for messages.
KIND_NAMES = {"runs": "runs (fetch, list, sync)", "results": "scraped rows (results)"}

#: What a CSV file is written in: UTF-8, which pandas and spreadsheets read.
CSV_ENCODING = "utf-8"


@dataclass(frozen=True)
class Output:
    """Where ``-o`` writes, in which format, and whether ``--merge`` folds into what is there."""

    path: Path
    csv: bool
    merge: bool


def check_output(target: str, *, merge: bool, kind: FrameKind) -> Output:
    """The checked ``-o`` target for a frame of ``kind``; a usage error for anything that could
    not be written.

    An existing directory is a dataset written by ``to_parquet``, taken only with ``--merge``;
    what ``--merge`` folds into must hold the same kind of frame.
    """
    path = Path(target).expanduser()
    if path.is_dir():
        if not _written_by_to_parquet(path):
            raise UsageError(f"{target} is a directory, but not a dataset written by to_parquet")
        if not merge:
            raise UsageError(f"{target} is a Parquet dataset: add --merge to fold the rows into it")
        _check_kind(path, target, kind)
        return Output(path, csv=False, merge=True)
    suffix = path.suffix.lower()
    if suffix not in (PARQUET_SUFFIX, CSV_SUFFIX):
        raise UsageError(
            f"cannot tell the format of {target}: -o takes a {PARQUET_SUFFIX} or {CSV_SUFFIX} "
            "file, or with --merge an existing Parquet dataset directory"
        )
    if suffix == CSV_SUFFIX and merge:
        raise UsageError(f"--merge needs Parquet output; {target} is a CSV file")
    check_parent(target)
    if merge and path.exists():
        if not _written_by_to_parquet(path):
            raise UsageError(
                f"cannot merge into {target}: not a Parquet file written by to_parquet"
            )
        _check_kind(path, target, kind)
    return Output(path, csv=suffix == CSV_SUFFIX, merge=merge)


def check_parent(target: str) -> None:
    """A usage error unless the directory ``target`` goes into exists."""
    parent = Path(target).expanduser().parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {target}: no directory {str(parent)!r}; create it first")


def _check_kind(path: Path, target: str, kind: FrameKind) -> None:
    """A usage error unless the file or dataset at ``path`` holds a frame of ``kind``."""
    try:
        held = read_unlocked(path, stored_layout).kind
    except ParquetFormatError as exc:
        raise UsageError(f"cannot merge into {target}: {exc}") from exc
    if held != kind:
        raise UsageError(
            f"cannot merge {KIND_NAMES[kind]} into {target}: it holds {KIND_NAMES[held]}; "
            "write to another file"
        )


def write_frame(frame: pd.DataFrame, output: Output) -> Path:
    """Write ``frame`` to ``output``; a target that does not match (merge) is a usage error."""
    try:
        if output.csv:
            _write_csv(frame, output.path)
            return output.path
        return to_parquet(frame, output.path, mode="merge" if output.merge else "overwrite")
    except (ParquetFormatError, TypeError, ValueError) as exc:
        raise UsageError(f"nothing written: {exc}") from exc
    except OSError as exc:
        raise CommandError(f"cannot write {output.path}: {exc.strerror or exc}") from exc


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``csv_frame(frame)`` as CSV at ``path``, atomically: a temporary sibling, then a rename."""
    with atomic_open(path, "w", encoding=CSV_ENCODING, newline="") as file:
        csv_frame(frame).to_csv(file, index=False)


def _written_by_to_parquet(path: Path) -> bool:
    """Whether ``path`` is a file, or a directory of files, that ``to_parquet`` wrote."""
    file = path if path.is_file() else next(iter(sorted(path.rglob("*" + PARQUET_SUFFIX))), None)
    if file is None:
        return False
    try:
        metadata = pq.read_schema(file).metadata or {}
    except (pa.ArrowException, OSError):
        return False
    return FRAME_METADATA_KEY in metadata
