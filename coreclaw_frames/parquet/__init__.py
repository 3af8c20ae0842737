"""Parquet files and hive-partitioned datasets of run frames and results frames.

Why not ``DataFrame.to_parquet``: a plain round trip loses what makes the run frame useful.
Second timestamps come back as milliseconds, unused categories and their order disappear,
pyarrow's pandas metadata cannot even describe an Arrow list column, hive partition columns
come back as dictionaries at the end of the frame, and nothing stops two fetches of the same
run from piling up in a dataset. Here:

* Run frames go through :func:`coreclaw_frames.schema.run_arrow_schema` on the way out and
  :func:`coreclaw_frames.schema.table_to_frame` on the way back, so the schema module stays
  the single source of truth; free-form columns (results frames, columns a user added) keep
  their pandas dtype through a per-column description stored in the file.
* Every file carries the schema version, the column descriptions and that description in its
  key-value metadata (next to Arrow's and pandas' own entries, nothing else), and a reader
  refuses files written by a newer schema version.
* Writes are atomic (a temporary sibling, then a rename) and a read sees one whole write,
  ``mode="merge"`` folds a newer fetch into an existing file or dataset without duplicating
  runs or letting a failed fetch replace data, and the data files are plain Parquet that
  DuckDB, Dask and Spark read unchanged (see ``docs/parquet.md``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from filelock import FileLock

from coreclaw_frames._errors import ParquetFormatError
from coreclaw_frames.parquet._arguments import (
    as_path,
    check_destination,
    check_partition_cols,
    check_partition_names,
    holds_data,
)
from coreclaw_frames.parquet._codec import arrow_to_frame, check_labels, frame_to_table
from coreclaw_frames.parquet._files import (
    COMPRESSION,
    lock_file,
    read,
    read_one_write,
    read_unlocked,
    recover,
    stored_layout,
    write_dataset,
    write_file,
)
from coreclaw_frames.parquet._layout import (
    FRAME_METADATA_KEY,
    RUN_KEY,
    WRITE_MODES,
    Layout,
    WriteMode,
)
from coreclaw_frames.parquet._merge import RunMerge, check_mergeable, merge, merge_runs
from coreclaw_frames.parquet._months import MergeReport, merge_into, write_runs
from coreclaw_frames.parquet._selection import Selection

__all__ = [
    "COMPRESSION",
    "FRAME_METADATA_KEY",
    "WRITE_MODES",
    "MergeReport",
    "ParquetFormatError",
    "merge_runs_into",
    "read_parquet",
    "to_parquet",
]


def to_parquet(
    df: pd.DataFrame | pa.Table,
    path: str | os.PathLike[str],
    *,
    partition_cols: Sequence[str] | None = None,
    mode: WriteMode = "overwrite",
) -> Path:
    """Write a run frame or a results frame to one Parquet file or a hive-partitioned dataset.

    Parameters
    ----------
    df : pandas.DataFrame or pyarrow.Table
        A run frame (every column of :data:`~coreclaw_frames.schema.RUN_COLUMNS` with its
        dtype, plus any columns you added) or a results frame (first column ``run_slug``).
        The index is not stored; a named index or a MultiIndex is refused (``reset_index()``).
        An ``object`` column (mixed types) is stored as text: strings unchanged, ``None``/NaN/NA
        as null, booleans as ``true``/``false``, numbers as ``str(value)``, dicts, lists and
        tuples JSON-encoded, anything else ``str(value)``; it reads back as
        ``pd.ArrowDtype(pa.string())``. Or an Arrow table of either kind (from
        :func:`~coreclaw_frames.to_arrow`, ``records_to_table``, Polars, DuckDB): it is typed
        as :func:`~coreclaw_frames.from_arrow` types it, with the same checks, and
        ``ccf.to_arrow(ccf.read_parquet(path))`` gives it back.
    path : str or os.PathLike
        The file to write, or with ``partition_cols`` the dataset directory. Its parent
        directory must exist. An existing directory is only ever replaced if it holds nothing
        but files this function wrote.
    partition_cols : list of str, optional
        Columns (strings, integers, booleans or categoricals) to partition by, in hive layout
        ``path/col=value/...``; for example ``["scraper_slug"]`` or a month column you add
        (``df["month"] = df["started_at"].dt.strftime("%Y-%m")``); ``[]`` for a dataset
        directory without partitions. In each partition a run frame is stored one file per
        month its runs started in (UTC), ``part-2026-03.parquet``, and ``part-unstarted.parquet``
        for runs not started yet; a results frame in ``part-0.parquet``. When merging into an
        existing dataset the default is its own partition columns. Each directory name,
        ``col=value`` with the value URL-encoded, must fit the file system (255 bytes on most).
    mode : {"overwrite", "merge"}
        ``"overwrite"`` replaces what is at ``path``. ``"merge"`` adds ``df`` to what is there
        (same layout and dtypes required) without duplicates, and a failed fetch never
        replaces data. For run frames a slug present more than once keeps, in first-seen
        order, a clean row over a flagged one (``fetch_error`` set, run data kept) over a
        failed fetch (no run data), and between two of the same kind the newest
        ``fetched_at`` (on a tie, the row from ``df``). For results frames every
        ``run_slug`` in ``df`` replaces that run's rows, unless its rows in ``df`` all have
        ``fetch_error`` set and stored ones do not; columns new to either side are filled with
        NA. A file, or a dataset of results, is rewritten whole; a dataset of runs only in the
        files whose runs change, the others kept as they are (see ``docs/parquet.md``).

        Either way the data go to a temporary sibling first (for a dataset, its next version:
        the files kept hard-linked, the others written), then are renamed into place, so a
        crash never leaves a half-written file or dataset; concurrent writes to one ``path``
        wait for each other through a lock file ``.<name>.lock`` next to it. A write first
        cleans up after a writer that was killed: its temporaries are removed, and a dataset
        it had set aside (``.<name>.<id>.old``, with ``path`` missing) is put back before
        merging into it.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    TypeError, ValueError, FileNotFoundError, ParquetFormatError
        Bad arguments, a frame that is neither kind, a missing parent directory, or (merge)
        an existing file or dataset that does not match. Nothing is written then.

    Examples
    --------
    >>> ccf.to_parquet(runs, "runs.parquet")  # doctest: +SKIP
    PosixPath('runs.parquet')
    >>> ccf.to_parquet(polars_runs.to_arrow(), "runs.parquet")  # doctest: +SKIP
    PosixPath('runs.parquet')
    >>> later = ccf.fetch_runs(runs["slug"])  # doctest: +SKIP
    >>> ccf.to_parquet(later, "runs", partition_cols=["scraper_slug"],
    ...                mode="merge")  # doctest: +SKIP
    PosixPath('runs')
    """
    df = as_frame(df)
    target = as_path(path)
    recover(target)
    partitions, layout, table = check_write(df, target, partition_cols=partition_cols, mode=mode)
    with FileLock(lock_file(target)):
        if layout.kind == "runs":
            store_runs(df, table, target, partitions, layout, mode)
            return target
        if mode == "merge":
            existing = None
            if holds_data(target):
                existing, existing_layout = read(target)
                check_mergeable(existing_layout, layout, target)
            layout, table = frame_to_table(merge(existing, df, layout.kind), partitions or ())
        if partitions is None:
            write_file(table, target)
        else:
            write_dataset(table, target, partitions)
    return target


def merge_runs_into(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    partition_cols: Sequence[str] | None = None,
    keep_same: bool = False,
) -> MergeReport:
    """``to_parquet(df, path, partition_cols=partition_cols, mode="merge")`` for a run frame,
    and what it did: runs stored before and after, added and updated, files written.

    With ``keep_same``, a run whose new row equals its stored row in everything but
    ``fetched_at`` keeps its stored row, so its file is not written again.

    Examples
    --------
    >>> ccf.parquet.merge_runs_into(later, "runs").written  # doctest: +SKIP
    ('scraper_slug=01K2R2T400R84P57VFQVC2R1YD/part-2026-03.parquet',)
    """
    target = as_path(path)
    recover(target)
    partitions, layout, table = check_write(df, target, partition_cols=partition_cols, mode="merge")
    if layout.kind != "runs":
        raise ValueError("merge_runs_into takes a run frame; merge results with to_parquet")
    with FileLock(lock_file(target)):
        return store_runs(df, table, target, partitions, layout, "merge", keep_same=keep_same)


def store_runs(
    df: pd.DataFrame,
    table: pa.Table,
    target: Path,
    partitions: tuple[str, ...] | None,
    layout: Layout,
    mode: WriteMode,
    *,
    keep_same: bool = False,
) -> MergeReport:
    """Write or merge a run frame (checked, its table made), holding the writers' lock: a
    dataset in month files, merged file by file; a single file whole."""
    if mode == "merge" and holds_data(target):
        stored = stored_layout(target)
        check_mergeable(stored, layout, target)
        if partitions is not None:
            return merge_into(df, target, partitions, stored, keep_same=keep_same)
        existing, _ = read(target)
        merged = merge_runs(existing, df, keep_same=keep_same)
        unchanged = np.array_equal(merged.kept, np.arange(len(existing)))
        if not unchanged:
            write_file(frame_to_table(merged.frame(), ())[1], target)
        return file_report(merged, existing, () if unchanged else (target.name,))
    if mode == "merge":
        merged = merge_runs(None, df)
        df, table = merged.frame(), frame_to_table(merged.frame(), partitions or ())[1]
    if partitions is not None:
        return write_runs(df, target, partitions)
    write_file(table, target)
    return MergeReport(0, len(df), 0, len(df), (target.name,), 0)


def file_report(merged: RunMerge, existing: pd.DataFrame, written: tuple[str, ...]) -> MergeReport:
    arriving = merged.combined[RUN_KEY].take(merged.kept[merged.kept >= merged.stored])
    added = int((~arriving.isin(existing[RUN_KEY].dropna())).sum())
    return MergeReport(
        stored=len(existing),
        added=added,
        updated=merged.updated,
        runs=len(merged.kept),
        written=written,
        kept=0 if written else 1,
    )


def check_write(
    df: pd.DataFrame | pa.Table,
    path: str | os.PathLike[str],
    *,
    partition_cols: Sequence[str] | None = None,
    mode: WriteMode = "overwrite",
) -> tuple[tuple[str, ...] | None, Layout, pa.Table]:
    """Every check :func:`to_parquet` makes before it writes: raises what it would raise.

    Returns the partition columns (for a merge into a dataset, its own by default; ``()`` for
    a dataset without partitions, None for a single file), and ``df``'s layout and Arrow
    table. Reads the footers of what is at ``path``, never its data.
    """
    df = as_frame(df)
    target = as_path(path)
    if mode not in WRITE_MODES:
        raise ValueError(f"mode must be 'overwrite' or 'merge', got {mode!r}")
    check_labels(df)
    if partition_cols is None and mode == "merge" and target.is_dir() and holds_data(target):
        # Merging into a dataset keeps its partitioning unless told otherwise.
        partition_cols = list(read_unlocked(target, stored_layout).partition_cols)
    partitions = check_partition_cols(partition_cols, df)
    layout, table = frame_to_table(df, partitions or ())
    check_destination(target, partitions, mode)
    check_partition_names(table, partitions or (), target.parent)
    if mode == "merge" and holds_data(target):
        check_mergeable(read_unlocked(target, stored_layout), layout, target)
    return partitions, layout, table


def as_frame(df: object) -> pd.DataFrame:
    """``df`` if it is a DataFrame, the frame of an Arrow table (checked), else a TypeError."""
    if isinstance(df, pa.Table):
        return arrow_to_frame(df)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"df must be a pandas DataFrame or a pyarrow Table, got {type(df).__name__}"
        )
    return df


def read_parquet(
    path: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    filters: list[Any] | pc.Expression | None = None,
) -> pd.DataFrame:
    """Read a file or dataset written by :func:`to_parquet` back into the frame written.

    Every dtype comes back as written (exact decimals, UTC timestamps in their unit,
    timedeltas, categoricals with all their categories, nullable integers, strings), except
    ``object`` columns, which were stored as text and come back as
    ``pd.ArrowDtype(pa.string())``. A partitioned dataset comes back with its partition columns
    in their original dtype and place, rows ordered as
    ``df.sort_values(partition_cols, kind="stable", ignore_index=True)``: grouped by partition,
    in the order written within each; the runs of a partition grouped by the month they
    started in (UTC, runs not started last).

    A read returns the data of one complete write, never a mix, even while another process
    rewrites ``path``: it waits for a writer holding the lock file ``.<name>.lock`` next to
    ``path``. Without that file (a read creates nothing), or where this process may not open
    it, a read that a writer overtook starts over, up to ``READ_ATTEMPTS`` times.

    Parameters
    ----------
    path : str or os.PathLike
        A file, or a dataset directory (every ``*.parquet`` file under it is read).
    columns : list of str, optional
        Read only these columns, in this order, each typed as in the whole frame.
    filters : list or pyarrow.compute.Expression, optional
        Read only the rows that match, in pyarrow's forms: ``[(column, op, value), ...]`` (all
        must hold), a list of such lists (one must hold), or an expression. Partitions and
        files that cannot match are not read. The result equals the whole frame filtered,
        rows in the same order.

    Returns
    -------
    pandas.DataFrame
        A run frame or a results frame, with a fresh ``RangeIndex``.

    Raises
    ------
    TypeError, ValueError
        ``columns`` or ``filters`` malformed, naming a column the data lack, or comparing a
        column with a value of another type; nothing is read then.
    FileNotFoundError
        Nothing at ``path``, or a directory without Parquet files.
    ParquetFormatError
        A file that is not Parquet, not written by :func:`to_parquet` (other Parquet files are
        never read, not even alongside ours), or written by a newer schema version.
    TimeoutError
        Without the lock, another process rewrote ``path`` during every attempt to read it.

    Examples
    --------
    >>> df = ccf.read_parquet("runs.parquet")  # doctest: +SKIP
    >>> df.dtypes["usage"]  # doctest: +SKIP
    decimal128(18, 10)[pyarrow]
    >>> since = pd.Timestamp("2026-01-01", tz="UTC")
    >>> recent = ccf.read_parquet("runs", columns=["started_at", "usage"],
    ...     filters=[("scraper_slug", "=", slug), ("started_at", ">=", since)])  # doctest: +SKIP
    """
    selection = Selection.of(columns, filters)
    frame, _ = read_one_write(as_path(path), selection)
    return frame
