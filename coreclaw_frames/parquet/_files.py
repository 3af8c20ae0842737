"""Files on disk: atomic writes, consistent reads, and the lock that orders them.

Writes go to a temporary sibling, then are renamed into place, so a crash never leaves a
half-written file; writers of one path wait for each other on a lock file ``.<name>.lock``
next to it, and a read sees one complete write, never a mix.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from filelock import BaseFileLock, FileLock

from coreclaw_frames._atomic import atomic_open, fsync_directory, fsync_file, temporary_sibling
from coreclaw_frames._errors import ParquetFormatError
from coreclaw_frames.parquet._codec import frame_of_table, restore_types, run_frame, to_series
from coreclaw_frames.parquet._layout import FRAME_METADATA_KEY, PARQUET_SUFFIX, Layout
from coreclaw_frames.parquet._selection import Selection, stored_columns
from coreclaw_frames.schema import SCHEMA_VERSION, SCHEMA_VERSION_KEY

#: File name of every data file of a partitioned dataset (one per partition).
PART_FILE_TEMPLATE = "part-{i}" + PARQUET_SUFFIX
COMPRESSION = "snappy"
#: pyarrow refuses more than 1024 partitions by default; one per worker can exceed that.
MAX_PARTITIONS = 1_000_000
#: Files and directories that readers of hive datasets skip (pyarrow's own convention).
IGNORED_PREFIXES = (".", "_")
#: How often a read without the lock starts over when a writer replaced the data meanwhile,
#: and how long it waits first (seconds): enough for a writer between two renames.
READ_ATTEMPTS = 20
READ_RETRY_PAUSE = 0.02

#: How a read of part of a dataset scans it: without reading ahead what it may not need
#: (whole column chunks of every file at once), whose buffers would stay with the allocator.
LEAN_SCAN = {"fragment_scan_options": ds.ParquetFragmentScanOptions(pre_buffer=False)}
#: How many footers :func:`footer_schema` keeps (a dataset's files, many times over).
FOOTER_CACHE_SIZE = 8192
_FOOTERS: dict[tuple[str, int, int, int, int], tuple[pq.FileMetaData, pa.Schema]] = {}

#: ``renameat2`` arguments: paths relative to the working directory; swap the two paths.
AT_FDCWD = -100
RENAME_EXCHANGE = 2
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

_T = TypeVar("_T")


def read_one_write(path: Path, selection: Selection | None = None) -> tuple[pd.DataFrame, Layout]:
    """:func:`read` of one complete write of ``path``, never a mix of two.

    Writers replace a file or dataset whole while holding its lock, so holding it too is
    enough; without it, :func:`read_unlocked` checks that no writer came in between.
    """
    lock = acquired_lock(path)
    if lock is None:
        return read_unlocked(path, lambda target: read_or_set_aside(target, selection))
    try:
        return read_or_set_aside(path, selection)
    finally:
        lock.release()


def read_or_set_aside(
    path: Path, selection: Selection | None = None
) -> tuple[pd.DataFrame, Layout]:
    """:func:`read` of ``path``; while it is missing because a writer died between its two
    renames (see :func:`replace_directory`), of the complete previous data it set aside."""
    backups = [] if path.exists() else interrupted_backups(path)
    target = backups[0] if len(backups) == 1 else path
    return read(target) if selection is None else read(target, selection)


def acquired_lock(path: Path) -> BaseFileLock | None:
    """The writers' lock on ``path``, held; None if its file is missing or closed to us."""
    lock_path = lock_file(path)
    if not lock_path.exists():  # never create it: a read changes nothing on disk
        return None
    lock = FileLock(lock_path)
    try:
        lock.acquire()
    except OSError:  # a lock file this process may not open (another user's, read-only)
        return None
    return lock


def read_unlocked(path: Path, read: Callable[[Path], _T]) -> _T:
    """``read(path)`` without the lock, started over whenever a writer replaced ``path``.

    Every write renames a new file or directory into place, which changes
    :func:`identity`: a read that began and ended with the same identity saw one write.
    """
    error: Exception | None = None
    for _ in range(READ_ATTEMPTS):
        before = identity(path)
        try:
            result = read(path)
        except (OSError, ValueError, pa.ArrowException) as exc:  # files gone mid-read
            if identity(path) == before and not between_renames(path):
                raise
            error = exc
        else:
            if identity(path) == before:
                return result
        time.sleep(READ_RETRY_PAUSE)
    if error is not None and not path.exists():
        raise error  # still missing: an interrupted write, and the error says where its data are
    raise TimeoutError(
        f"{str(path)!r} was rewritten by another process during each of {READ_ATTEMPTS} "
        "attempts to read it; try again when it is done"
    ) from error


def identity(path: Path) -> tuple[int, int, int] | None:
    """What any write of ``path`` changes (it renames another inode into place), or None."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino, status.st_ctime_ns


def between_renames(path: Path) -> bool:
    """Whether ``path`` is missing while a previous version waits aside (see replace_directory)."""
    return not path.exists() and bool(interrupted_backups(path))


def read(path: Path, selection: Selection | None = None) -> tuple[pd.DataFrame, Layout]:
    """The frame stored at ``path`` (a file or a dataset directory), or the part of it that
    ``selection`` asks for, and its layout."""
    layout = stored_layout(path)
    dataset = stored_dataset(path, layout)
    columns = filters = None
    if selection is not None:
        columns = selection.columns_of(layout, path)
        filters = selection.expression_for(dataset.schema, path)
    names = None if columns is None else stored_columns(layout, columns, dataset.schema.names)
    if selection is None:
        table = dataset.to_table()
    else:  # a part of a large history: decode no more than asked for
        table = dataset.to_table(columns=names, filter=filters, **LEAN_SCAN)
    return frame_of_table(table, layout, columns), layout


def stored_dataset(path: Path, layout: Layout) -> ds.Dataset:
    """The file, or the dataset's files in the order of their partitions (see
    :func:`partition_order`), as one pyarrow dataset with the partition columns typed."""
    if not path.is_dir():
        return ds.dataset(str(path), format="parquet")
    return file_dataset(path, partition_order(path, dataset_files(path), layout), layout)


def stored_layout(path: Path) -> Layout:
    """The layout of the file or dataset at ``path``, from the footers alone."""
    if path.is_dir():
        return common_layout(dataset_files(path), path)
    if not path.exists():
        message = f"no such file or directory: {str(path)!r}"
        leftovers = interrupted_backups(path)
        if leftovers:
            message += f" (an interrupted write left the previous data at {str(leftovers[0])!r})"
        raise FileNotFoundError(message)
    layout = file_layout(path)
    if not set(layout.partition_cols) <= set(pq.read_schema(path).names):
        raise ParquetFormatError(
            f"{str(path)!r} is one file of a dataset partitioned by "
            f"{list(layout.partition_cols)!r}; read the dataset directory instead"
        )
    return layout


def dataset_files(directory: Path) -> list[Path]:
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


def footer(file: Path) -> tuple[pq.FileMetaData, pa.Schema]:
    """A Parquet file's footer, and the Arrow schema in it; read once per version of the file
    (writes never change a file in place: they put another in its place)."""
    status = file.stat()
    key = (str(file), status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size)
    found = _FOOTERS.get(key)
    if found is None:
        metadata = pq.read_metadata(file)
        found = metadata, metadata.schema.to_arrow_schema()
        if len(_FOOTERS) >= FOOTER_CACHE_SIZE:
            _FOOTERS.clear()
        _FOOTERS[key] = found
    return found


def footer_schema(file: Path) -> pa.Schema:
    return footer(file)[1]


def file_layout(file: Path) -> Layout:
    try:
        schema = footer_schema(file)
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
    layout = Layout.from_json(metadata[FRAME_METADATA_KEY], file)
    return dataclasses.replace(layout, schema_version=version)


def common_layout(files: list[Path], directory: Path) -> Layout:
    layouts = [file_layout(file) for file in files]
    first = layouts[0]
    for file, layout in zip(files, layouts, strict=True):
        if layout.json != first.json:
            raise ParquetFormatError(
                f"{str(directory)!r} mixes datasets: {str(file)!r} holds other columns or "
                f"partitioning than {str(files[0])!r}"
            )
    return first


def file_dataset(directory: Path, files: list[Path], layout: Layout) -> ds.Dataset:
    """``files`` of the dataset at ``directory`` as one pyarrow dataset, scanned in that order,
    with the partition columns in their stored types (dictionaries as their values)."""
    physical = pq.read_schema(files[0])
    partition_fields = [partition_field(layout.schema.field(n)) for n in layout.partition_cols]
    fields = list(physical) + [f for f in partition_fields if f.name not in physical.names]
    return ds.dataset(
        [str(f) for f in files],
        schema=pa.schema(fields),
        format="parquet",
        partitioning=ds.partitioning(pa.schema(partition_fields), flavor="hive"),
        partition_base_dir=str(directory),
    )


def read_dataset(directory: Path, files: list[Path], layout: Layout) -> pa.Table:
    """Every row of ``files``, in that order, with their partition columns."""
    return file_dataset(directory, files, layout).to_table()


def partition_order(directory: Path, files: list[Path], layout: Layout) -> list[Path]:
    """``files`` ordered as their rows come back: by partition, as
    ``frame.sort_values(partition_cols, kind="stable", na_position="last")`` orders a frame
    of their partition values (categories in their order, nulls last), in path order within
    one partition. Sorting files rather than rows costs nothing per row."""
    if not layout.partition_cols:
        return files
    keys = [
        ds.get_partition_keys(fragment.partition_expression)
        for fragment in file_dataset(directory, files, layout).get_fragments()
    ]
    fields = [partition_field(layout.schema.field(n)) for n in layout.partition_cols]
    table = pa.table({f.name: pa.array([key.get(f.name) for key in keys], f.type) for f in fields})
    specs = {spec["name"]: spec for spec in layout.columns}
    table = restore_types(table, pa.schema([layout.schema.field(f.name) for f in fields]))
    values = pd.DataFrame(
        {f.name: partition_values(table, specs[f.name], layout) for f in fields}, copy=False
    )
    order = values.sort_values(list(layout.partition_cols), kind="stable", na_position="last").index
    return [files[i] for i in order]


def partition_values(table: pa.Table, spec: dict[str, Any], layout: Layout) -> pd.Series:
    """One partition column as the frame types it."""
    if spec["restore"] == "run":
        return run_frame(table, [spec["name"]])[spec["name"]]
    return to_series(table, spec)


def partition_field(field: pa.Field) -> pa.Field:
    """The field as hive directory names carry it: dictionaries as their values."""
    if pa.types.is_dictionary(field.type):
        return pa.field(field.name, field.type.value_type)
    return pa.field(field.name, field.type)


def write_file(table: pa.Table, target: Path) -> None:
    with atomic_open(target) as file:
        pq.write_table(table, file, compression=COMPRESSION)


def write_dataset(table: pa.Table, target: Path, partitions: tuple[str, ...]) -> None:
    temporary = temporary_sibling(target, ".tmp")
    try:
        if table.num_rows == 0 or not partitions:
            # No rows or no partitions: one file at the root (it keeps the columns and the
            # metadata of an empty dataset).
            temporary.mkdir()
            pq.write_table(
                table, temporary / PART_FILE_TEMPLATE.format(i=0), compression=COMPRESSION
            )
        else:
            fields = [partition_field(table.schema.field(name)) for name in partitions]
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
            fsync_file(file)
        replace_directory(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    fsync_directory(target.parent)


def replace_directory(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, replacing an existing ``target`` and removing it.

    Where the kernel can swap two directories in one step (Linux's ``renameat2`` with
    ``RENAME_EXCHANGE``), ``target`` is always whole. Elsewhere it takes two renames, since
    POSIX cannot rename over a non-empty directory: a crash between them leaves ``target``
    missing and the previous data complete in ``.<name>.<id>.old``, which a read points out
    and the next write puts back (:func:`recover`).
    """
    if not target.exists():
        os.rename(source, target)
    elif exchange(source, target):
        shutil.rmtree(source, ignore_errors=True)  # now the previous data
    else:
        backup = temporary_sibling(target, ".old")
        os.rename(target, backup)
        try:
            os.rename(source, target)
        except BaseException:
            os.rename(backup, target)
            raise
        shutil.rmtree(backup, ignore_errors=True)


def exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically if the system can (Linux 3.15+, glibc 2.28+, most local file
    systems); False, having changed nothing, where it cannot."""
    renameat2 = getattr(_LIBC, "renameat2", None)
    if renameat2 is None:
        return False
    paths = (os.fsencode(first), os.fsencode(second))
    if renameat2(AT_FDCWD, paths[0], AT_FDCWD, paths[1], RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # a file system or kernel without the exchange
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def lock_file(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def interrupted_backups(target: Path) -> list[Path]:
    return leftovers(target, ".old")


def leftovers(target: Path, suffix: str) -> list[Path]:
    """The temporary siblings (``.tmp``) or set-aside datasets (``.old``) of ``target``."""
    if not target.parent.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{32}}{re.escape(suffix)}")
    return sorted(p for p in target.parent.iterdir() if pattern.fullmatch(p.name))


def recover(target: Path) -> None:
    """Undo what a writer killed mid-way left next to ``target``, holding the writers' lock.

    A dataset set aside by a writer killed between its two renames is put back (when it is
    the only one: several would leave no telling which is newest), and temporaries and
    backups that no live writer can own any more are removed. Only a writer calls this: a
    read changes nothing on disk.
    """
    if not (leftovers(target, ".tmp") or interrupted_backups(target)):
        return
    with FileLock(lock_file(target)):
        backups = interrupted_backups(target)
        if not target.exists() and len(backups) == 1:
            os.rename(backups.pop(), target)
        for path in leftovers(target, ".tmp") + (backups if target.exists() else []):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
