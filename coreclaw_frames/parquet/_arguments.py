"""Checks on what ``to_parquet`` and ``read_parquet`` are given, made before anything is written."""

from __future__ import annotations

import os
import reprlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coreclaw_frames._errors import quoted
from coreclaw_frames.parquet._files import footer_schema, interrupted_backups, read_unlocked
from coreclaw_frames.parquet._layout import (
    FRAME_METADATA_KEY,
    MASKED_DTYPES,
    PARQUET_SUFFIX,
    WriteMode,
    quote,
)

#: The directory name value of a null in a hive partition column.
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
#: The longest file or directory name, in bytes, where the file system does not say.
DEFAULT_NAME_MAX = 255


def as_path(path: Any) -> Path:
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


def check_partition_cols(partition_cols: Any, df: pd.DataFrame) -> tuple[str, ...] | None:
    """The partition columns; ``()`` for a dataset directory without partitions, None for a
    single file."""
    if partition_cols is None:
        return None
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
    not_str = [n for n in names if not isinstance(n, str)]
    if not_str:
        raise TypeError(f"partition_cols must be column names (strings), got {quote(not_str)}")
    if len(set(names)) != len(names):
        raise ValueError(f"partition_cols has duplicates: {names!r}")
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise ValueError(
            f"partition_cols {quote(missing)} not in df; its columns are {quote(df.columns)}"
        )
    if len(names) >= len(df.columns):
        raise ValueError("partition_cols may not be every column: the files would hold nothing")
    for name in names:
        dtype = df[name].dtype
        if not partitionable(dtype):
            raise ValueError(
                f"cannot partition by {name!r} of dtype {dtype}: partition columns must hold "
                "strings, integers, booleans or categories of those (for a month, add "
                "df['month'] = df['started_at'].dt.strftime('%Y-%m'))"
            )
    return tuple(names)


def partitionable(dtype: Any) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        return partitionable(dtype.categories.dtype)
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
    if isinstance(dtype, MASKED_DTYPES):
        return pd.api.types.is_integer_dtype(dtype)
    return isinstance(dtype, np.dtype) and dtype.kind in "biu"


def check_destination(target: Path, partitions: tuple[str, ...] | None, mode: WriteMode) -> None:
    parent = target.parent
    if not parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {str(target)!r}: its parent directory {str(parent)!r} does not "
            "exist; create it first"
        )
    if partitions is None and target.is_dir():
        raise ValueError(
            f"{str(target)!r} is a directory, expected a file path such as "
            f"{str(target / ('runs' + PARQUET_SUFFIX))!r}; to write a dataset into it, pass "
            "partition_cols (a list of columns, or [] for no partitions)"
        )
    if partitions is not None and target.exists() and not target.is_dir():
        raise ValueError(
            f"{str(target)!r} is a file, but partition_cols asks for a dataset directory; "
            "pass a directory path, or partition_cols=None to write a single file"
        )
    if partitions is not None and target.is_dir():
        read_unlocked(target, check_owned_directory)
    if mode == "merge" and not target.exists():
        leftovers = interrupted_backups(target)
        if leftovers:
            raise FileNotFoundError(
                f"cannot merge into {str(target)!r}: it is missing, but an interrupted write "
                f"left the previous data at {str(leftovers[0])!r}; rename it back first"
            )


def check_partition_names(table: pa.Table, partitions: tuple[str, ...], parent: Path) -> None:
    """Refuse a partition value that would not come back exactly from its directory name, or
    whose directory name the file system cannot hold."""
    limit = name_max(parent)
    for name in partitions:
        column = table.column(name)
        stored = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if pa.types.is_string(stored) or pa.types.is_large_string(stored):
            check_text_partition_values(name, pc.unique(column.cast(pa.string())).to_pylist())
        values = pc.unique(column.cast(pa.string())).fill_null(HIVE_NULL).to_pylist()
        # pyarrow writes ``name=value`` with the value URL-encoded, as url_quote() does.
        lengths = {v: len(f"{name}={url_quote(v, safe='')}".encode()) for v in values}
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


def check_text_partition_values(name: str, values: list[str | None]) -> None:
    """Refuse a text value whose hive directory name ``name=value`` reads back as another value:
    the name of a null (:data:`HIVE_NULL`, read back as NA), the empty string (Hive and Spark
    read ``name=`` as null), or text holding a NUL character (a file name ends there, so
    ``'Jobs\\x00EU'`` and ``'Jobs\\x00US'`` would both become ``'Jobs'``).

    Examples
    --------
    >>> check_text_partition_values("origin", ["api", None])
    >>> check_text_partition_values("scraper_title", ["Jobs\\x00EU"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: cannot partition by 'scraper_title': its value 'Jobs\\x00EU' holds a NUL ...
    """
    for value in values:
        if value is None:
            continue
        if value == HIVE_NULL:
            why = "is the directory name of a missing value: it would come back as NA"
        elif value == "":
            why = "is empty: Hive and Spark read an empty directory value as missing"
        elif "\x00" in value:
            why = "holds a NUL character, where a directory name ends: it would come back cut"
        else:
            continue
        raise ValueError(
            f"cannot partition by {name!r}: its value {quoted(value)} {why}; replace that "
            "value first, or partition by another column such as 'scraper_slug'"
        )


def name_max(directory: Path) -> int:
    """The longest file name the file system holding ``directory`` allows, in bytes."""
    try:
        limit = os.pathconf(directory, "PC_NAME_MAX")
    except (AttributeError, ValueError, OSError):  # no pathconf (Windows), or no answer
        return DEFAULT_NAME_MAX
    return limit if limit > 0 else DEFAULT_NAME_MAX


def holds_data(target: Path) -> bool:
    """Whether there is a file, or a directory with any file in it, at ``target``."""
    if target.is_dir():
        return any(p.is_file() for p in target.rglob("*"))
    return target.exists()


def check_owned_directory(directory: Path) -> None:
    """Refuse to replace a directory holding anything :func:`to_parquet` did not write."""
    for file in sorted(p for p in directory.rglob("*") if not p.is_dir()):
        if file.suffix != PARQUET_SUFFIX or not has_frame_metadata(file):
            raise ValueError(
                f"refusing to replace {str(directory)!r}: it holds {str(file)!r}, which "
                "to_parquet did not write; choose an empty or new directory"
            )


def has_frame_metadata(file: Path) -> bool:
    try:
        metadata = footer_schema(file).metadata or {}
    except (pa.ArrowInvalid, OSError):
        return False
    return FRAME_METADATA_KEY in metadata
