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

import base64
import dataclasses
import json
import math
import os
import reprlib
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from filelock import BaseFileLock, FileLock

from coreclaw_frames.errors import ParquetFormatError
from coreclaw_frames.schema import (
    DERIVED,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    USAGE_ARROW_TYPE,
    add_derived,
    is_status_dtype,
    run_arrow_schema,
    table_to_frame,
)

__all__ = [
    "FRAME_METADATA_KEY",
    "WRITE_MODES",
    "ParquetFormatError",
    "read_parquet",
    "to_parquet",
]

#: Key-value metadata entry holding the frame description (JSON): kind, columns, partitioning.
FRAME_METADATA_KEY = b"coreclaw_frames.frame"
#: Version of the layout of :data:`FRAME_METADATA_KEY` itself.
FRAME_FORMAT = 1
WriteMode = Literal["overwrite", "merge"]
WRITE_MODES: tuple[WriteMode, ...] = ("overwrite", "merge")
FrameKind = Literal["runs", "results"]

#: A run frame's key, and the column deciding which of two rows of a run is newer.
RUN_KEY = "slug"
RUN_FRESHNESS = "fetched_at"
#: Set on the rows of both kinds of frame whose fetch failed (or, for runs, was malformed).
FETCH_ERROR = "fetch_error"
#: A results frame's first column.
RESULTS_KEY = "run_slug"
RESULTS_KEY_DESCRIPTION = "Slug of the run that produced the row."

PARQUET_SUFFIX = ".parquet"
#: File name of every data file of a partitioned dataset (one per partition).
PART_FILE_TEMPLATE = "part-{i}" + PARQUET_SUFFIX
COMPRESSION = "snappy"
#: pyarrow refuses more than 1024 partitions by default; one per worker can exceed that.
MAX_PARTITIONS = 1_000_000
#: The directory name value of a null in a hive partition column.
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
#: The longest file or directory name, in bytes, where the file system does not say.
DEFAULT_NAME_MAX = 255
#: Files and directories that readers of hive datasets skip (pyarrow's own convention).
IGNORED_PREFIXES = (".", "_")
#: How many offending names an error message quotes.
QUOTED_NAMES = 5
#: How often a read without the lock starts over when a writer replaced the data meanwhile,
#: and how long it waits first (seconds): enough for a writer between two renames.
READ_ATTEMPTS = 20
READ_RETRY_PAUSE = 0.02

_T = TypeVar("_T")

_RUN_COLUMN_NAMES = tuple(c.name for c in RUN_COLUMNS)
_RUN_DESCRIPTIONS = {c.name: c.description for c in RUN_COLUMNS}
_RUN_DTYPES = {c.name: pd.api.types.pandas_dtype(c.dtype) for c in RUN_COLUMNS}
_MASKED_DTYPES = (
    pd.Int8Dtype,
    pd.Int16Dtype,
    pd.Int32Dtype,
    pd.Int64Dtype,
    pd.UInt8Dtype,
    pd.UInt16Dtype,
    pd.UInt32Dtype,
    pd.UInt64Dtype,
    pd.Float32Dtype,
    pd.Float64Dtype,
    pd.BooleanDtype,
)


@dataclass(frozen=True)
class _Layout:
    """What a file says about the frame it holds (the :data:`FRAME_METADATA_KEY` entry)."""

    kind: FrameKind
    columns: tuple[dict[str, Any], ...]
    partition_cols: tuple[str, ...]
    schema: pa.Schema
    #: The run schema version the file was written with (not part of the JSON entry).
    schema_version: int = SCHEMA_VERSION

    @property
    def names(self) -> list[str]:
        return [spec["name"] for spec in self.columns]

    def to_json(self) -> bytes:
        plain = pa.schema([pa.field(f.name, f.type, f.nullable) for f in self.schema])
        return json.dumps(
            {
                "format": FRAME_FORMAT,
                "kind": self.kind,
                "columns": list(self.columns),
                "partition_cols": list(self.partition_cols),
                "arrow_schema": base64.b64encode(plain.serialize().to_pybytes()).decode(),
            },
            ensure_ascii=False,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes, source: Path) -> _Layout:
        try:
            data = json.loads(raw)
            newer = int(data["format"]) > FRAME_FORMAT or data["kind"] not in ("runs", "results")
            if not newer:
                schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data["arrow_schema"])))
                layout = cls(
                    kind=data["kind"],
                    columns=tuple(data["columns"]),
                    partition_cols=tuple(data["partition_cols"]),
                    schema=schema,
                )
        except (ValueError, KeyError, TypeError, pa.ArrowInvalid) as exc:
            raise ParquetFormatError(
                f"{str(source)!r} has unreadable {FRAME_METADATA_KEY.decode()!r} metadata ({exc})"
            ) from exc
        if newer:
            raise ParquetFormatError(
                f"{str(source)!r} was written by a newer coreclaw-frames (frame format "
                f"{data['format']!r}, this version reads {FRAME_FORMAT}); upgrade coreclaw-frames"
            )
        return layout


# --- public API ------------------------------------------------------------------------------


def to_parquet(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    partition_cols: Sequence[str] | None = None,
    mode: WriteMode = "overwrite",
) -> Path:
    """Write a run frame or a results frame to one Parquet file or a hive-partitioned dataset.

    Parameters
    ----------
    df : pandas.DataFrame
        A run frame (every column of :data:`~coreclaw_frames.schema.RUN_COLUMNS` with its
        dtype, plus any columns you added) or a results frame (first column ``run_slug``).
        The index is not stored; a named index or a MultiIndex is refused (``reset_index()``).
        An ``object`` column (mixed types) is stored as text: strings unchanged, ``None``/NaN/NA
        as null, booleans as ``true``/``false``, numbers as ``str(value)``, dicts, lists and
        tuples JSON-encoded, anything else ``str(value)``; it reads back as
        ``pd.ArrowDtype(pa.string())``.
    path : str or os.PathLike
        The file to write, or with ``partition_cols`` the dataset directory. Its parent
        directory must exist. An existing directory is only ever replaced if it holds nothing
        but files this function wrote.
    partition_cols : list of str, optional
        Columns (strings, integers, booleans or categoricals) to partition by, in hive layout
        ``path/col=value/part-0.parquet``; for example ``["scraper_slug"]`` or a month column
        you add (``df["month"] = df["started_at"].dt.strftime("%Y-%m")``). When merging into an
        existing dataset the default is its own partition columns. Each directory name,
        ``col=value`` with the value URL-encoded, must fit the file system (255 bytes on most).
    mode : {"overwrite", "merge"}
        ``"overwrite"`` replaces what is at ``path``. ``"merge"`` adds ``df`` to what is there
        (same layout and dtypes required) without duplicates, and a failed fetch never
        replaces data. For run frames a slug present more than once keeps, in first-seen
        order, a row without ``fetch_error`` over one with it, and between two of the same kind
        the newest ``fetched_at`` (on a tie, the row from ``df``). For results frames every
        ``run_slug`` in ``df`` replaces that run's rows, unless its rows in ``df`` all have
        ``fetch_error`` set and stored ones do not; columns new to either side are filled with
        NA. The whole file or dataset is rewritten.

        Either way the data go to a temporary sibling first, then are renamed into place, so a
        crash never leaves a half-written file; concurrent writes to one ``path`` wait for each
        other through a lock file ``.<name>.lock`` next to it.

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
    >>> later = ccf.fetch_runs(runs["slug"])  # doctest: +SKIP
    >>> ccf.to_parquet(later, "runs", partition_cols=["scraper_slug"],
    ...                mode="merge")  # doctest: +SKIP
    PosixPath('runs')
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    target = _as_path(path)
    if mode not in WRITE_MODES:
        raise ValueError(f"mode must be 'overwrite' or 'merge', got {mode!r}")
    _check_labels(df)
    if partition_cols is None and mode == "merge" and target.is_dir() and _holds_data(target):
        # Merging into a dataset keeps its partitioning unless told otherwise.
        partition_cols = list(_read_unlocked(target, _stored_layout).partition_cols) or None
    partitions = _check_partition_cols(partition_cols, df)
    layout, table = _frame_to_table(df, partitions)
    _check_destination(target, partitions, mode)
    _check_partition_names(table, partitions, target.parent)
    if mode == "merge" and _holds_data(target):  # footers only: refuse before taking the lock
        _check_mergeable(_read_unlocked(target, _stored_layout), layout, target)

    with FileLock(_lock_file(target)):
        if mode == "merge":
            existing = None
            if _holds_data(target):
                existing, existing_layout = _read(target)
                _check_mergeable(existing_layout, layout, target)
            layout, table = _frame_to_table(_merge(existing, df, layout.kind), partitions)
        if partitions:
            _write_dataset(table, target, partitions)
        else:
            _write_file(table, target)
    return target


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a file or dataset written by :func:`to_parquet` back into the frame written.

    Every dtype comes back as written (exact decimals, UTC timestamps in their unit,
    timedeltas, categoricals with all their categories, nullable integers, strings), except
    ``object`` columns, which were stored as text and come back as
    ``pd.ArrowDtype(pa.string())``. A partitioned dataset comes back with its partition columns
    in their original dtype and place, rows ordered as
    ``df.sort_values(partition_cols, kind="stable", ignore_index=True)``: grouped by partition,
    in the order written within each.

    A read returns the data of one complete write, never a mix, even while another process
    rewrites ``path``: it waits for a writer holding the lock file ``.<name>.lock`` next to
    ``path``. Without that file (a read creates nothing), or where this process may not open
    it, a read that a writer overtook starts over, up to ``READ_ATTEMPTS`` times.

    Parameters
    ----------
    path : str or os.PathLike
        A file, or a dataset directory (every ``*.parquet`` file under it is read).

    Returns
    -------
    pandas.DataFrame
        A run frame or a results frame, with a fresh ``RangeIndex``.

    Raises
    ------
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
    """
    frame, _ = _read_one_write(_as_path(path))
    return frame


# --- arguments -------------------------------------------------------------------------------


def _as_path(path: Any) -> Path:
    if isinstance(path, bytes) or not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"path must be a str or os.PathLike, got {type(path).__name__}: {reprlib.repr(path)}"
        )
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"path must be a str or os.PathLike of str, got {path!r}")
    if not text.strip():
        raise ValueError("path is empty; expected a file or directory path such as 'runs.parquet'")
    if "://" in text:
        raise ValueError(f"path must be a local path, got the URL {text!r}")
    return Path(text).expanduser()


def _check_partition_cols(partition_cols: Any, df: pd.DataFrame) -> tuple[str, ...]:
    if partition_cols is None:
        return ()
    if isinstance(partition_cols, str):
        raise TypeError(
            "partition_cols must be a list of column names, not a single string: wrap it as "
            f"[{partition_cols!r}]"
        )
    if not isinstance(partition_cols, Sequence):
        raise TypeError(
            f"partition_cols must be a list of column names, got {type(partition_cols).__name__}"
        )
    names = list(partition_cols)
    if not names:
        raise ValueError("partition_cols is empty; pass None to write a single file")
    not_str = [n for n in names if not isinstance(n, str)]
    if not_str:
        raise TypeError(f"partition_cols must be column names (strings), got {_quote(not_str)}")
    if len(set(names)) != len(names):
        raise ValueError(f"partition_cols has duplicates: {names!r}")
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise ValueError(
            f"partition_cols {_quote(missing)} not in df; its columns are {_quote(df.columns)}"
        )
    if len(names) >= len(df.columns):
        raise ValueError("partition_cols may not be every column: the files would hold nothing")
    for name in names:
        dtype = df[name].dtype
        if not _partitionable(dtype):
            raise ValueError(
                f"cannot partition by {name!r} of dtype {dtype}: partition columns must hold "
                "strings, integers, booleans or categories of those (for a month, add "
                "df['month'] = df['started_at'].dt.strftime('%Y-%m'))"
            )
    return tuple(names)


def _partitionable(dtype: Any) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        return _partitionable(dtype.categories.dtype)
    if isinstance(dtype, pd.ArrowDtype):
        arrow = dtype.pyarrow_dtype
        return bool(
            pa.types.is_string(arrow)
            or pa.types.is_large_string(arrow)
            or pa.types.is_integer(arrow)
            or pa.types.is_boolean(arrow)
        )
    if isinstance(dtype, pd.StringDtype | pd.BooleanDtype) or pd.api.types.is_object_dtype(dtype):
        return True
    if isinstance(dtype, _MASKED_DTYPES):
        return pd.api.types.is_integer_dtype(dtype)
    return isinstance(dtype, np.dtype) and dtype.kind in "biu"


def _check_destination(target: Path, partitions: tuple[str, ...], mode: WriteMode) -> None:
    parent = target.parent
    if not parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {str(target)!r}: its parent directory {str(parent)!r} does not "
            "exist; create it first"
        )
    if not partitions and target.is_dir():
        raise ValueError(
            f"{str(target)!r} is a directory, expected a file path such as "
            f"{str(target / ('runs' + PARQUET_SUFFIX))!r}; to write a partitioned dataset "
            "into it, pass partition_cols"
        )
    if partitions and target.exists() and not target.is_dir():
        raise ValueError(
            f"{str(target)!r} is a file, but partition_cols asks for a dataset directory; "
            "pass a directory path, or partition_cols=None to write a single file"
        )
    if partitions and target.is_dir():
        _read_unlocked(target, _check_owned_directory)
    if mode == "merge" and not target.exists():
        leftovers = _interrupted_backups(target)
        if leftovers:
            raise FileNotFoundError(
                f"cannot merge into {str(target)!r}: it is missing, but an interrupted write "
                f"left the previous data at {str(leftovers[0])!r}; rename it back first"
            )


def _check_partition_names(table: pa.Table, partitions: tuple[str, ...], parent: Path) -> None:
    """Refuse a partition value whose directory name the file system cannot hold."""
    limit = _name_max(parent)
    for name in partitions:
        values = pc.unique(table.column(name).cast(pa.string())).fill_null(HIVE_NULL).to_pylist()
        # pyarrow writes ``name=value`` with the value URL-encoded, as quote() does.
        lengths = {v: len(f"{name}={quote(v, safe='')}".encode()) for v in values}
        too_long = [v for v, length in lengths.items() if length > limit]
        if too_long:
            value = max(too_long, key=lengths.__getitem__)
            others = f" ({len(too_long)} values are too long)" if len(too_long) > 1 else ""
            raise ValueError(
                f"cannot partition by {name!r}: the directory name for its value "
                f"{reprlib.repr(value)} ({len(value)} characters) would be {lengths[value]} "
                f"bytes long once URL-encoded, over the file system's limit of {limit}"
                f"{others}; partition by another column, for example 'scraper_slug' instead "
                "of 'scraper_title'"
            )


def _name_max(directory: Path) -> int:
    """The longest file name the file system holding ``directory`` allows, in bytes."""
    try:
        limit = os.pathconf(directory, "PC_NAME_MAX")
    except (AttributeError, ValueError, OSError):  # no pathconf (Windows), or no answer
        return DEFAULT_NAME_MAX
    return limit if limit > 0 else DEFAULT_NAME_MAX


def _holds_data(target: Path) -> bool:
    """Whether there is a file, or a directory with any file in it, at ``target``."""
    if target.is_dir():
        return any(p.is_file() for p in target.rglob("*"))
    return target.exists()


def _check_owned_directory(directory: Path) -> None:
    """Refuse to replace a directory holding anything :func:`to_parquet` did not write."""
    for file in sorted(p for p in directory.rglob("*") if not p.is_dir()):
        if file.suffix != PARQUET_SUFFIX or not _has_frame_metadata(file):
            raise ValueError(
                f"refusing to replace {str(directory)!r}: it holds {str(file)!r}, which "
                "to_parquet did not write; choose an empty or new directory"
            )


def _has_frame_metadata(file: Path) -> bool:
    try:
        metadata = pq.read_schema(file).metadata or {}
    except (pa.ArrowInvalid, OSError):
        return False
    return FRAME_METADATA_KEY in metadata


# --- frame -> Arrow --------------------------------------------------------------------------


def _frame_kind(df: pd.DataFrame) -> FrameKind:
    names = list(df.columns)
    if names and names[0] == RESULTS_KEY:
        dtype = df[RESULTS_KEY].dtype
        if not _is_string_dtype(dtype):
            raise ValueError(
                f"{RESULTS_KEY!r} must be a string column, got dtype {dtype}; convert it with "
                f"df[{RESULTS_KEY!r}].astype(pd.ArrowDtype(pa.string()))"
            )
        return "results"
    missing = [name for name in _RUN_COLUMN_NAMES if name not in df.columns and name not in DERIVED]
    if not missing:
        wrong = [
            f"{c.name} is {df[c.name].dtype}, expected {c.dtype}"
            for c in RUN_COLUMNS
            if c.name in df.columns
            and not (
                is_status_dtype(df[c.name].dtype)
                if c.name == "status"
                else _same_dtype(df[c.name].dtype, _RUN_DTYPES[c.name])
            )
        ]
        if wrong:
            raise ValueError(
                f"df has the run frame's columns but {len(wrong)} have the wrong dtype: "
                + _quote(wrong, repr_items=False)
                + "; build run frames with fetch_runs or records.records_to_frame"
            )
        return "runs"
    first = repr(names[0]) if names else "none (no columns)"
    raise ValueError(
        f"df is neither a run frame (missing columns {_quote(missing)}) nor a results frame "
        f"(first column must be {RESULTS_KEY!r}, got {first})"
    )


def _same_dtype(actual: Any, expected: Any) -> bool:
    """Dtype equality without numpy's attempts to parse the other side as a numpy dtype."""
    return type(actual) is type(expected) and bool(actual == expected)


def _is_string_dtype(dtype: Any) -> bool:
    if isinstance(dtype, pd.ArrowDtype):
        return bool(
            pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
        )
    return isinstance(dtype, pd.StringDtype)


def _check_labels(df: pd.DataFrame) -> None:
    if isinstance(df.index, pd.MultiIndex) or df.index.name is not None:
        raise ValueError(
            f"df has a named index {list(df.index.names)!r}, which to_parquet does not store; "
            "call df.reset_index() to keep it as a column, or df.reset_index(drop=True)"
        )
    not_str = [name for name in df.columns if not isinstance(name, str)]
    if not_str:
        raise ValueError(f"column names must be strings, got {_quote(not_str)}")
    duplicated = sorted(set(df.columns[df.columns.duplicated()]))
    if duplicated:
        raise ValueError(f"column names must be unique, got duplicates {_quote(duplicated)}")


def _frame_to_table(df: pd.DataFrame, partitions: tuple[str, ...]) -> tuple[_Layout, pa.Table]:
    """Validate ``df`` and convert it to an Arrow table carrying its layout in the metadata."""
    _check_labels(df)
    kind = _frame_kind(df)
    if kind == "runs":
        df = add_derived(df)
    specs = tuple(_column_spec(name, df[name], kind) for name in df.columns)
    prepared = df.copy(deep=False)
    for spec in specs:
        if spec["restore"] == "text":
            prepared[spec["name"]] = pd.arrays.ArrowExtensionArray(_text_array(df[spec["name"]]))
    try:
        table = pa.Table.from_pandas(prepared, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise ValueError(f"df cannot be converted to Arrow: {exc}") from exc
    pandas_metadata = _pandas_metadata(table.schema.metadata)
    run_fields = {f.name: f for f in run_arrow_schema()} if kind == "runs" else {}
    fields = []
    for field in table.schema:
        if field.name in run_fields:
            field = run_fields[field.name]
        elif kind == "results" and field.name == RESULTS_KEY:
            field = field.with_metadata({"description": RESULTS_KEY_DESCRIPTION})
        fields.append(field)
    layout = _Layout(kind, specs, partitions, pa.schema(fields))
    metadata = {
        b"pandas": pandas_metadata,
        SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode(),
        FRAME_METADATA_KEY: layout.to_json(),
    }
    stored = pa.schema([_stored_field(field) for field in fields], metadata)
    return layout, table.cast(stored)


def _stored_field(field: pa.Field) -> pa.Field:
    """The field as written: dictionaries unordered.

    Parquet keeps only the values a file uses, so each file of a dataset has its own
    categories; Dask cannot concatenate ordered categoricals whose categories differ. The
    order lives in the frame description, and :func:`read_parquet` restores it.
    """
    if pa.types.is_dictionary(field.type) and field.type.ordered:
        unordered = pa.dictionary(field.type.index_type, field.type.value_type, ordered=False)
        return field.with_type(unordered)
    return field


def _column_spec(name: str, series: pd.Series, kind: FrameKind) -> dict[str, Any]:
    """How to bring the column back: ``restore`` names the converter in :func:`_to_series`."""
    dtype = series.dtype
    spec: dict[str, Any] = {"name": name, "dtype": str(dtype)}
    if kind == "runs" and name in _RUN_DESCRIPTIONS:
        spec.update(restore="run", description=_RUN_DESCRIPTIONS[name])
        return spec
    if kind == "results" and name == RESULTS_KEY:
        spec["description"] = RESULTS_KEY_DESCRIPTION
    if isinstance(dtype, pd.ArrowDtype):
        spec["restore"] = "arrow"
    elif isinstance(dtype, pd.StringDtype):
        spec.update(restore="string", **_string_dtype_spec(dtype))
    elif isinstance(dtype, pd.CategoricalDtype):
        spec.update(restore="category", **_categories_spec(name, dtype))
    elif isinstance(dtype, _MASKED_DTYPES):
        spec["restore"] = "extension"
    elif pd.api.types.is_object_dtype(dtype):
        spec["restore"] = "text"
    elif isinstance(dtype, pd.DatetimeTZDtype) or (
        isinstance(dtype, np.dtype) and dtype.kind in "biufmM"
    ):
        spec["restore"] = "pandas"
    else:
        raise ValueError(
            f"column {name!r} has dtype {dtype}, which to_parquet cannot store; convert it "
            f"first, for example df[{name!r}] = df[{name!r}].astype(str)"
        )
    return spec


def _string_dtype_spec(dtype: pd.StringDtype) -> dict[str, Any]:
    na_value = "nan" if dtype.na_value is np.nan else "NA"
    return {"storage": dtype.storage, "na_value": na_value}


def _string_dtype(spec: dict[str, Any]) -> pd.StringDtype:
    na_value = np.nan if spec["na_value"] == "nan" else pd.NA
    return pd.StringDtype(storage=spec["storage"], na_value=na_value)


def _categories_spec(name: str, dtype: pd.CategoricalDtype) -> dict[str, Any]:
    categories = dtype.categories
    inner = categories.dtype
    spec: dict[str, Any] = {"ordered": bool(dtype.ordered)}
    if isinstance(inner, pd.StringDtype):
        spec["categories_dtype"] = {"restore": "string", **_string_dtype_spec(inner)}
    elif isinstance(inner, np.dtype) and inner.kind in "biufO":
        spec["categories_dtype"] = {"restore": "pandas", "dtype": str(inner)}
    else:
        raise ValueError(
            f"categorical column {name!r} has categories of dtype {inner}; to_parquet stores "
            "string, integer, float or boolean categories only"
        )
    values = categories.tolist()
    try:
        spec["categories"] = json.loads(json.dumps(values, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"categorical column {name!r} has categories that are not plain strings or "
            f"numbers ({exc})"
        ) from exc
    if spec["categories"] != values:
        raise ValueError(f"categorical column {name!r} has categories JSON cannot keep exactly")
    return spec


def _categories_dtype(spec: dict[str, Any]) -> pd.CategoricalDtype:
    inner = spec["categories_dtype"]
    index_dtype: Any = (
        _string_dtype(inner) if inner["restore"] == "string" else np.dtype(inner["dtype"])
    )
    categories = pd.Index(spec["categories"], dtype=index_dtype)
    return pd.CategoricalDtype(categories, ordered=spec["ordered"])


def _text_array(series: pd.Series) -> pa.Array:
    """An ``object`` column of any mix of values as Arrow strings (see :func:`to_parquet`)."""
    return pa.array([_as_text(value) for value in series.array], pa.string())


def _as_text(value: Any) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    if isinstance(value, int | float | Decimal | np.integer | np.floating):
        return str(value)
    if isinstance(value, dict | list | tuple | np.ndarray):
        plain = value.tolist() if isinstance(value, np.ndarray) else value
        return json.dumps(plain, ensure_ascii=False, default=_json_default)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _pandas_metadata(metadata: dict[bytes, bytes] | None) -> bytes:
    """pyarrow's pandas metadata, minus dtype names that pandas cannot parse back.

    pyarrow records ``str(dtype)``, and for Arrow types such as lists or structs that string
    is not a dtype pandas can rebuild: ``pandas.read_parquet`` and Dask would raise on it.
    """
    pandas_meta = json.loads((metadata or {})[b"pandas"])
    for column in pandas_meta["columns"]:
        try:
            pd.api.types.pandas_dtype(column["numpy_type"])
        except (TypeError, ValueError, NotImplementedError):
            column["numpy_type"] = "object"
        if column["pandas_type"] == "categorical":
            column["metadata"]["ordered"] = False  # as stored, see _stored_field
    return json.dumps(pandas_meta).encode()


# --- Arrow -> frame --------------------------------------------------------------------------


def _table_to_frame(table: pa.Table, layout: _Layout) -> pd.DataFrame:
    table = _restore_types(table.select(layout.names), layout.schema)
    if layout.kind == "runs":
        frame = _run_frame(table)
        extras = [spec for spec in layout.columns if spec["restore"] != "run"]
        names = layout.names
        if layout.schema_version < SCHEMA_VERSION:
            # An older frame: today's run columns in today's order, then its own columns.
            names = [*_RUN_COLUMN_NAMES, *(spec["name"] for spec in extras)]
        if extras or list(frame.columns) != names:
            columns = {name: frame[name] for name in frame.columns}
            columns.update({spec["name"]: _to_series(table, spec) for spec in extras})
            frame = pd.DataFrame({name: columns[name] for name in names}, copy=False)
    else:
        frame = pd.DataFrame(
            {spec["name"]: _to_series(table, spec) for spec in layout.columns},
            index=pd.RangeIndex(table.num_rows),
            copy=False,
        )
    if layout.partition_cols:
        frame = frame.sort_values(
            list(layout.partition_cols), kind="stable", na_position="last", ignore_index=True
        )
    return frame


def _run_frame(table: pa.Table) -> pd.DataFrame:
    """The run frame of a table of any schema version; a cost too big or too precise for
    today's ``usage`` type is an error, never rounded."""
    try:
        return table_to_frame(table)
    except pa.ArrowInvalid as exc:
        raise ParquetFormatError(
            f"a cost in this file does not fit today's usage type {USAGE_ARROW_TYPE} (up to "
            f"{USAGE_ARROW_TYPE.scale} decimal places, below "
            f"{10 ** (USAGE_ARROW_TYPE.precision - USAGE_ARROW_TYPE.scale):,} USD): {exc}"
        ) from exc


def _restore_types(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast back what Parquet changed (second timestamps come back as milliseconds).

    Columns Parquet re-reads as plain values (integer categories; hive partition columns)
    stay undictionaried: the pandas converters take either.
    """
    columns = []
    for column, field in zip(table.columns, schema, strict=True):
        target = field.type
        if pa.types.is_dictionary(target):  # the converters take values or any dictionary
            dictionary = pa.types.is_dictionary(column.type)
            target = column.type if dictionary else target.value_type
        same = column.type == target and str(column.type) == str(target)  # list field names
        columns.append(column if same else column.cast(target))
    return pa.table(columns, names=schema.names)


def _to_series(table: pa.Table, spec: dict[str, Any]) -> pd.Series:
    column = table.column(spec["name"])
    restore = spec["restore"]
    values: Any
    if restore == "arrow":
        values = pd.arrays.ArrowExtensionArray(column)
    elif restore == "text":
        values = pd.arrays.ArrowExtensionArray(column.cast(pa.string()))
    elif restore == "string":
        values = _string_dtype(spec).__from_arrow__(column)
    elif restore == "extension":
        values = pd.api.types.pandas_dtype(spec["dtype"]).__from_arrow__(column)
    elif restore == "category":
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        values = pd.Categorical(column.to_pandas(), dtype=_categories_dtype(spec))
    elif restore == "pandas":
        values = column.to_pandas().astype(pd.api.types.pandas_dtype(spec["dtype"]))
    else:
        raise ParquetFormatError(f"column {spec['name']!r}: unknown restore kind {restore!r}")
    return pd.Series(values, index=pd.RangeIndex(len(column)), name=spec["name"], copy=False)


# --- reading ---------------------------------------------------------------------------------


def _read_one_write(path: Path) -> tuple[pd.DataFrame, _Layout]:
    """:func:`_read` of one complete write of ``path``, never a mix of two.

    Writers replace a file or dataset whole while holding its lock, so holding it too is
    enough; without it, :func:`_read_unlocked` checks that no writer came in between.
    """
    lock = _acquired_lock(path)
    if lock is None:
        return _read_unlocked(path, _read)
    try:
        return _read(path)
    finally:
        lock.release()


def _acquired_lock(path: Path) -> BaseFileLock | None:
    """The writers' lock on ``path``, held; None if its file is missing or closed to us."""
    lock_file = _lock_file(path)
    if not lock_file.exists():  # never create it: a read changes nothing on disk
        return None
    lock = FileLock(lock_file)
    try:
        lock.acquire()
    except OSError:  # a lock file this process may not open (another user's, read-only)
        return None
    return lock


def _read_unlocked(path: Path, read: Callable[[Path], _T]) -> _T:
    """``read(path)`` without the lock, started over whenever a writer replaced ``path``.

    Every write renames a new file or directory into place, which changes
    :func:`_identity`: a read that began and ended with the same identity saw one write.
    """
    error: Exception | None = None
    for _ in range(READ_ATTEMPTS):
        before = _identity(path)
        try:
            result = read(path)
        except (OSError, ValueError, pa.ArrowException) as exc:  # files gone mid-read
            if _identity(path) == before and not _between_renames(path):
                raise
            error = exc
        else:
            if _identity(path) == before:
                return result
        time.sleep(READ_RETRY_PAUSE)
    if error is not None and not path.exists():
        raise error  # still missing: an interrupted write, and the error says where its data are
    raise TimeoutError(
        f"{str(path)!r} was rewritten by another process during each of {READ_ATTEMPTS} "
        "attempts to read it; try again when it is done"
    ) from error


def _identity(path: Path) -> tuple[int, int, int] | None:
    """What any write of ``path`` changes (it renames another inode into place), or None."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino, status.st_ctime_ns


def _between_renames(path: Path) -> bool:
    """Whether ``path`` is missing while a previous version waits aside (see _replace_directory)."""
    return not path.exists() and bool(_interrupted_backups(path))


def _read(path: Path) -> tuple[pd.DataFrame, _Layout]:
    layout = _stored_layout(path)
    if path.is_dir():
        table = _read_dataset(path, _dataset_files(path), layout)
    else:
        table = pq.read_table(path)
    return _table_to_frame(table, layout), layout


def _stored_layout(path: Path) -> _Layout:
    """The layout of the file or dataset at ``path``, from the footers alone."""
    if path.is_dir():
        return _common_layout(_dataset_files(path), path)
    if not path.exists():
        message = f"no such file or directory: {str(path)!r}"
        leftovers = _interrupted_backups(path)
        if leftovers:
            message += f" (an interrupted write left the previous data at {str(leftovers[0])!r})"
        raise FileNotFoundError(message)
    layout = _file_layout(path)
    if not set(layout.partition_cols) <= set(pq.read_schema(path).names):
        raise ParquetFormatError(
            f"{str(path)!r} is one file of a dataset partitioned by "
            f"{list(layout.partition_cols)!r}; read the dataset directory instead"
        )
    return layout


def _dataset_files(directory: Path) -> list[Path]:
    files = sorted(
        p
        for p in directory.rglob("*" + PARQUET_SUFFIX)
        if p.is_file()
        and not any(part.startswith(IGNORED_PREFIXES) for part in p.relative_to(directory).parts)
    )
    if not files:
        raise FileNotFoundError(
            f"{str(directory)!r} is a directory without Parquet files; expected a file or a "
            "dataset directory written by to_parquet"
        )
    return files


def _file_layout(file: Path) -> _Layout:
    try:
        schema = pq.read_schema(file)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ParquetFormatError(f"{str(file)!r} is not a Parquet file ({exc})") from exc
    metadata = schema.metadata or {}
    if FRAME_METADATA_KEY not in metadata:
        raise ParquetFormatError(
            f"{str(file)!r} was not written by coreclaw_frames.to_parquet (no "
            f"{FRAME_METADATA_KEY.decode()!r} metadata); read it with pandas.read_parquet"
        )
    raw_version = metadata.get(SCHEMA_VERSION_KEY, b"")
    try:
        version = int(raw_version)
    except ValueError:
        raise ParquetFormatError(
            f"{str(file)!r} has an unreadable schema version {raw_version!r}; expected an "
            f"integer up to {SCHEMA_VERSION}"
        ) from None
    if version > SCHEMA_VERSION:
        raise ParquetFormatError(
            f"{str(file)!r} was written with run schema version {version}, newer than this "
            f"coreclaw-frames understands ({SCHEMA_VERSION}); upgrade coreclaw-frames"
        )
    layout = _Layout.from_json(metadata[FRAME_METADATA_KEY], file)
    return dataclasses.replace(layout, schema_version=version)


def _common_layout(files: list[Path], directory: Path) -> _Layout:
    layouts = [_file_layout(file) for file in files]
    first = layouts[0]
    for file, layout in zip(files, layouts, strict=True):
        if layout.to_json() != first.to_json():
            raise ParquetFormatError(
                f"{str(directory)!r} mixes datasets: {str(file)!r} holds other columns or "
                f"partitioning than {str(files[0])!r}"
            )
    return first


def _read_dataset(directory: Path, files: list[Path], layout: _Layout) -> pa.Table:
    physical = pq.read_schema(files[0])
    partition_fields = [_partition_field(layout.schema.field(n)) for n in layout.partition_cols]
    fields = list(physical) + [f for f in partition_fields if f.name not in physical.names]
    dataset = ds.dataset(
        [str(f) for f in files],
        schema=pa.schema(fields),
        format="parquet",
        partitioning=ds.partitioning(pa.schema(partition_fields), flavor="hive"),
        partition_base_dir=str(directory),
    )
    return dataset.to_table()


def _partition_field(field: pa.Field) -> pa.Field:
    """The field as hive directory names carry it: dictionaries as their values."""
    if pa.types.is_dictionary(field.type):
        return pa.field(field.name, field.type.value_type)
    return pa.field(field.name, field.type)


# --- merging ---------------------------------------------------------------------------------


def _check_mergeable(existing: _Layout, new: _Layout, path: Path) -> None:
    if existing.kind != new.kind:
        raise ParquetFormatError(
            f"cannot merge a {new.kind} frame into {str(path)!r}, which holds a {existing.kind} "
            "frame"
        )
    if existing.partition_cols != new.partition_cols:
        raise ParquetFormatError(
            f"cannot merge into {str(path)!r}: it is partitioned by "
            f"{list(existing.partition_cols) or None!r}, not {list(new.partition_cols) or None!r}"
        )
    old_specs = {spec["name"]: spec for spec in existing.columns}
    new_specs = {spec["name"]: spec for spec in new.columns}
    differ = [
        f"{name}: {old_specs[name]['dtype']} there, {spec['dtype']} in df"
        for name, spec in new_specs.items()
        if name in old_specs and _stored_form(old_specs[name]) != _stored_form(spec)
    ]
    if new.kind == "runs" and set(old_specs) != set(new_specs):
        only_old = [n for n in old_specs if n not in new_specs]
        only_new = [n for n in new_specs if n not in old_specs]
        differ.append(f"columns only there: {only_old!r}, only in df: {only_new!r}")
    if differ:
        raise ParquetFormatError(
            f"cannot merge into {str(path)!r}, its columns differ from df's: "
            + _quote(differ, repr_items=False)
        )


def _stored_form(spec: dict[str, Any]) -> dict[str, Any]:
    """A column's dtype as written and read back (``object`` columns come back as strings)."""
    if spec["restore"] == "text":
        return {"restore": "arrow", "dtype": str(pd.ArrowDtype(pa.string()))}
    return {k: v for k, v in spec.items() if k not in ("name", "description")}


def _merge(existing: pd.DataFrame | None, new: pd.DataFrame, kind: FrameKind) -> pd.DataFrame:
    """``new`` folded into ``existing``; a failed fetch never replaces data (see to_parquet)."""
    if kind == "results":
        if existing is None:
            return new
        # A run whose refetch gave only failed rows keeps its stored good rows, if any.
        refetch_failed = ~new[RESULTS_KEY].isin(_good_keys(new))
        new = new[~(refetch_failed & new[RESULTS_KEY].isin(_good_keys(existing)))]
        keep = existing[~existing[RESULTS_KEY].isin(new[RESULTS_KEY].dropna())]
        return _concat(keep, new)
    combined = new.reset_index(drop=True) if existing is None else _concat(existing, new)
    codes, _ = pd.factorize(combined[RUN_KEY])
    good = combined[FETCH_ERROR].isna().to_numpy()
    fresh = combined[RUN_FRESHNESS].array.asi8  # NaT is the smallest int64: oldest
    positions = np.arange(len(combined))
    # Per slug the last row in this order wins: good rows come after failed ones, then by
    # fetched_at, then by position (the rows of df after the stored ones).
    order = np.lexsort((positions, fresh, good, codes))
    sorted_codes = codes[order]
    wins = np.r_[sorted_codes[1:] != sorted_codes[:-1], True] & (sorted_codes >= 0)
    keep_rows = np.concatenate([order[wins], positions[codes < 0]])
    return combined.take(keep_rows).reset_index(drop=True)


def _good_keys(results: pd.DataFrame) -> pd.Series:
    """The run slugs of a results frame's rows without ``fetch_error``."""
    keys = results[RESULTS_KEY]
    if FETCH_ERROR in results.columns:
        keys = keys[results[FETCH_ERROR].isna()]
    return keys.dropna()


def _concat(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """``pd.concat`` of two frames, columns of either side kept, without losing NA-free dtypes."""
    first, second = _nullable_where_missing(first, second), _nullable_where_missing(second, first)
    names = list(first.columns) + [n for n in second.columns if n not in first.columns]
    second = second[[n for n in names if n in second.columns]]
    combined = pd.concat([first.reset_index(drop=True), second.reset_index(drop=True)])
    return combined[names].reset_index(drop=True)


def _nullable_where_missing(frame: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Columns ``other`` lacks become NA-capable (int64 -> Int64, bool -> boolean)."""
    changed = {
        name: frame[name].convert_dtypes(dtype_backend="numpy_nullable")
        for name in frame.columns
        if name not in other.columns
        and isinstance(frame[name].dtype, np.dtype)
        and frame[name].dtype.kind in "biu"
    }
    return frame.assign(**changed) if changed else frame


# --- writing ---------------------------------------------------------------------------------


def _write_file(table: pa.Table, target: Path) -> None:
    temporary = _temporary_sibling(target, ".tmp")
    try:
        pq.write_table(table, temporary, compression=COMPRESSION)
        _fsync(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _write_dataset(table: pa.Table, target: Path, partitions: tuple[str, ...]) -> None:
    temporary = _temporary_sibling(target, ".tmp")
    try:
        if table.num_rows == 0:
            # No rows, no partitions: one file at the root keeps the columns and the metadata.
            temporary.mkdir()
            pq.write_table(table, temporary / PART_FILE_TEMPLATE.format(i=0))
        else:
            fields = [_partition_field(table.schema.field(name)) for name in partitions]
            by_field = {f.name: f for f in fields}
            written = pa.schema(
                [by_field.get(f.name, f) for f in table.schema], table.schema.metadata
            )
            table = table.cast(written)
            # Rows of one partition together: one file per partition, rows in written order.
            order = pc.sort_indices(table, sort_keys=[(name, "ascending") for name in partitions])
            ds.write_dataset(
                table.take(order),
                temporary,
                format="parquet",
                partitioning=ds.partitioning(pa.schema(fields), flavor="hive"),
                basename_template=PART_FILE_TEMPLATE,
                existing_data_behavior="error",
                max_partitions=MAX_PARTITIONS,
                preserve_order=True,
                file_options=ds.ParquetFileFormat().make_write_options(compression=COMPRESSION),
            )
        for file in temporary.rglob("*" + PARQUET_SUFFIX):
            _fsync(file)
        _replace_directory(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    _fsync_directory(target.parent)


def _replace_directory(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``; an existing ``target`` is set aside first, then removed.

    POSIX cannot rename over a non-empty directory, so this takes two renames; a crash between
    them leaves ``target`` missing and the previous data complete in ``.<name>.<id>.old``, which
    :func:`read_parquet` and :func:`to_parquet` point out.
    """
    if not target.exists():
        os.rename(source, target)
        return
    backup = _temporary_sibling(target, ".old")
    os.rename(target, backup)
    try:
        os.rename(source, target)
    except BaseException:
        os.rename(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _lock_file(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def _temporary_sibling(target: Path, suffix: str) -> Path:
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}{suffix}")


def _interrupted_backups(target: Path) -> list[Path]:
    if not target.parent.is_dir():
        return []
    prefix = f".{target.name}."
    return sorted(
        p for p in target.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".old")
    )


def _fsync(file: Path) -> None:
    descriptor = os.open(file, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    _fsync(directory)


def _quote(items: Any, *, repr_items: bool = True) -> str:
    values = list(items)
    shown = ", ".join(repr(v) if repr_items else str(v) for v in values[:QUOTED_NAMES])
    more = len(values) - QUOTED_NAMES
    return shown + (f" and {more} more" if more > 0 else "")
