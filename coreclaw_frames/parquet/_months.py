"""Run datasets in month files: a merge costs what changed, not what is stored.

In each hive partition of a dataset of run frames, one file per calendar month in which its
runs started (UTC), and one for the runs not started yet::

    runs/scraper_slug=<slug>/part-2026-03.parquet     runs started in March 2026
    runs/scraper_slug=<slug>/part-unstarted.parquet   runs without a start time

The month lives in the file's name only, so every reader sees plain Parquet and no extra
column. A run moves to another file when its month or its partition changes (it starts).

A merge reads the slugs (one column) of the files whose footers give a range of slugs that
can hold a run of the new frame, reads in full only the files that hold one or gain one,
applies the merge rule to those runs, and writes only the files whose rows change; every
other file is hard-linked unchanged into the next version of the dataset, built in a
temporary sibling and swapped in whole
(:func:`~coreclaw_frames.parquet._versions.build_version`). Runs that are final never change,
so the files of past months are never written again. A file of another name (``part-0``, the
one file per partition of earlier versions) is split into month files on the first write.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from coreclaw_frames.parquet._codec import frame_of_table, frame_to_table
from coreclaw_frames.parquet._files import (
    dataset_files,
    file_dataset,
    footer,
    partition_field,
    read,
)
from coreclaw_frames.parquet._layout import PARQUET_SUFFIX, RUN_KEY, Layout
from coreclaw_frames.parquet._merge import RunMerge, merge_runs
from coreclaw_frames.parquet._versions import build_version
from coreclaw_frames.schema import SCHEMA_VERSION

#: The column whose month (UTC) names a run's file.
START_COLUMN = "started_at"
UNSTARTED = "unstarted"
MONTH_FILE = re.compile(r"part-(?:\d{4}-\d{2}|" + UNSTARTED + r")" + re.escape(PARQUET_SUFFIX))
#: The one file of a dataset without rows (it keeps the columns and the layout).
EMPTY_FILE = "part-0" + PARQUET_SUFFIX


@dataclass(frozen=True)
class MergeReport:
    """What a write of runs did: runs stored before and after, runs ``added``, stored runs
    ``updated`` (their row changed in more than ``fetched_at``), and the data files written
    (paths relative to the dataset; the file's name for a single file) and kept as they were."""

    stored: int
    added: int
    updated: int
    runs: int
    written: tuple[str, ...]
    kept: int


def month_names(started: pd.Series | pa.ChunkedArray) -> np.ndarray:
    """Per run, the month of its start in UTC (``2026-03``), or ``unstarted``."""
    if isinstance(started, pd.Series):
        naive = started.dt.tz_convert("UTC").dt.tz_localize(None)
        seconds = naive.to_numpy("datetime64[s]")
    else:
        seconds = started.cast(pa.timestamp("s", "UTC")).cast(pa.timestamp("s")).to_numpy()
    names = np.datetime_as_string(seconds.astype("datetime64[M]")).astype(object)
    names[np.isnat(seconds)] = UNSTARTED
    return names


def month_file(month: Any) -> Any:
    """A month's file name (``part-2026-03.parquet``); element-wise on an array of months."""
    return "part-" + month + PARQUET_SUFFIX


def is_month_file(name: str) -> bool:
    return MONTH_FILE.fullmatch(name.rsplit("/", 1)[-1]) is not None


def file_paths(frame: pd.DataFrame, partitions: tuple[str, ...], layout: Layout) -> np.ndarray:
    """Per run of ``frame``, the path of its file relative to the dataset."""
    files = month_file(month_names(frame[START_COLUMN]))
    if not partitions or not len(frame):
        return files
    keys = frame[list(partitions)]
    codes = keys.groupby(list(partitions), dropna=False, sort=False, observed=True).ngroup()
    codes = codes.to_numpy()
    _, first = np.unique(codes, return_index=True)
    fields = [partition_field(layout.schema.field(name)) for name in partitions]
    hive = ds.partitioning(pa.schema(fields), flavor="hive")
    directories = [directory_of(hive, fields, keys.iloc[row]) for row in first]
    return np.asarray(directories, dtype=object)[codes] + "/" + files


def directory_of(hive: ds.Partitioning, fields: list[pa.Field], values: pd.Series) -> str:
    """The hive directory of one combination of partition values, named as pyarrow names it."""
    expression = None
    for field_ in fields:
        value = values[field_.name]
        if pd.isna(value):
            term = pc.field(field_.name).is_null()
        else:
            plain = value.item() if isinstance(value, np.generic) else value
            term = pc.field(field_.name) == pa.scalar(plain, field_.type)
        expression = term if expression is None else expression & term
    return str(hive.format(expression)[0])


def grouped(names: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """The positions of each distinct name, names in first-seen order."""
    codes, uniques = pd.factorize(names)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    for code, name in enumerate(uniques):
        yield str(name), order[bounds[code] : bounds[code + 1]]


def write_runs(frame: pd.DataFrame, target: Path, partitions: tuple[str, ...]) -> MergeReport:
    """Write the run frame ``frame`` as a dataset in month files, replacing ``target``."""
    layout, table = frame_to_table(frame, partitions)
    written = build_version(target, [], tables_by_file(frame, table, partitions, layout))
    return MergeReport(0, len(frame), 0, len(frame), tuple(written), 0)


def tables_by_file(
    frame: pd.DataFrame, table: pa.Table, partitions: tuple[str, ...], layout: Layout
) -> Iterator[tuple[str, pa.Table]]:
    """The rows of ``table`` (converted from ``frame``) file by file, without the partition
    columns (the directory names carry them); a dataset without rows is one file of them all."""
    if not len(frame):
        yield EMPTY_FILE, table
        return
    for name, rows in grouped(file_paths(frame, partitions, layout)):
        yield name, table.take(rows).drop_columns(list(partitions))


def merge_into(
    df: pd.DataFrame,
    target: Path,
    partitions: tuple[str, ...],
    stored: Layout,
    *,
    keep_same: bool = False,
) -> MergeReport:
    """Merge the run frame ``df`` into the dataset at ``target``, writing only what changes.

    The caller holds the writers' lock and has checked that ``df`` can be merged. Files of an
    older schema version, or describing their frame otherwise than ``df``, are read and
    rewritten whole.
    """
    new = df[[name for name in stored.names if name in df.columns]].reset_index(drop=True)
    layout, empty = frame_to_table(new.head(0), partitions)
    if layout.to_json() == stored.to_json() and stored.schema_version == SCHEMA_VERSION:
        try:
            return Merge(new, target, partitions, stored, empty.schema, keep_same).run()
        except LayoutChanged:
            pass
    return merge_whole(new, target, partitions, keep_same)


def merge_whole(
    new: pd.DataFrame, target: Path, partitions: tuple[str, ...], keep_same: bool
) -> MergeReport:
    """Merge by reading every stored run and rewriting every file."""
    existing, _ = read(target)
    merged = merge_runs(existing, new, keep_same=keep_same)
    frame = merged.frame()
    layout, table = frame_to_table(frame, partitions)
    written = build_version(target, [], tables_by_file(frame, table, partitions, layout))
    return report(merged, existing[RUN_KEY], len(existing), written, 0)


def report(
    merged: RunMerge, stored_slugs: pd.Series, stored: int, written: list[str], kept: int
) -> MergeReport:
    """What a merge did, from its rows (``stored_slugs``: every stored slug of a run of the
    new frame; any other slug is new)."""
    arriving = merged.combined[RUN_KEY].take(merged.kept[merged.kept >= merged.stored])
    dropped = merged.stored - int(np.count_nonzero(merged.kept < merged.stored))
    added = int((~arriving.isin(stored_slugs.dropna())).sum())
    return MergeReport(
        stored=stored,
        added=added,
        updated=merged.updated,
        runs=stored - dropped + len(arriving),
        written=tuple(written),
        kept=kept,
    )


class LayoutChanged(Exception):
    """Merged rows would describe their frame otherwise than the stored files do."""


@dataclass
class Recipe:
    """How to write one file: from a stored file (``base``) without some of its rows, new rows
    in the place of some, then rows of files being split up, then new rows appended."""

    base: int | None = None
    drop: list[int] = field(default_factory=list)
    in_place: dict[int, int] = field(default_factory=dict)
    routed: list[tuple[int, np.ndarray]] = field(default_factory=list)
    appended: list[int] = field(default_factory=list)


class Merge:
    """One merge into a month dataset whose files describe their frame as the new one does
    (see :func:`merge_into`). Stored files stay Arrow tables; only the rows of the runs in the
    new frame go through pandas, for the merge rule."""

    def __init__(
        self,
        new: pd.DataFrame,
        target: Path,
        partitions: tuple[str, ...],
        layout: Layout,
        written: pa.Schema,
        keep_same: bool,
    ) -> None:
        self.new, self.target, self.partitions, self.layout = new, target, partitions, layout
        self.keep_same = keep_same
        self.files = dataset_files(target)
        self.names = [f.relative_to(target).as_posix() for f in self.files]
        self.by_name = {name: index for index, name in enumerate(self.names)}
        #: Files of another name than a month's (earlier versions' ``part-0``): split up.
        self.dissolved = [i for i, name in enumerate(self.names) if not is_month_file(name)]
        #: What a data file holds: the columns written but the partition ones.
        kept_fields = [f for f in written if f.name not in partitions]
        self.file_schema = pa.schema(kept_fields, written.metadata)
        self.dataset = file_dataset(target, self.files, layout)
        self.tables: dict[int, pa.Table] = {}

    def run(self) -> MergeReport:
        rows = sum(footer(file)[0].num_rows for file in self.files)
        new_slugs = pa.array(self.new[RUN_KEY].dropna().unique(), pa.string())
        wanted = sorted(new_slugs.to_pylist())
        # The files whose slugs can be those of df (by the range each file's footer gives)
        # and the files to split up: their slugs, read as one column.
        scanned = [
            i
            for i, file in enumerate(self.files)
            if i in self.dissolved or may_hold(footer(file)[0], wanted)
        ]
        slugs, fragments = self.slugs_of(scanned)
        counts = pc.value_counts(slugs).flatten()
        repeated = pc.filter(counts[0], pc.greater(counts[1], 1))  # a slug stored twice
        touched = pa.concat_arrays([new_slugs, repeated.cast(pa.string())]).unique()
        holding = pc.is_in(slugs, value_set=touched).to_numpy(zero_copy_only=False)
        affected = sorted(set(np.unique(fragments[holding]).tolist()))
        stored = self.touched_rows(affected, touched)
        merged = merge_runs(stored.frame, self.new, keep_same=self.keep_same)
        arriving = merged.kept[merged.kept >= merged.stored]
        new_rows = merged.combined.take(arriving).reset_index(drop=True)
        recipes = self.plan(stored, merged, new_rows)
        written: list[str] = []
        if recipes or self.dissolved:
            rewritten = {recipe.base for recipe in recipes.values()} | set(self.dissolved)
            keep = [name for i, name in enumerate(self.names) if i not in rewritten]
            tables = self.file_tables(recipes, self.arriving_table(new_rows), keep)
            written = build_version(self.target, keep, tables)
            kept = len(keep)
        else:
            kept = len(self.files)
        return report(merged, stored.frame[RUN_KEY], rows, written, kept)

    def slugs_of(self, indexes: list[int]) -> tuple[pa.ChunkedArray, np.ndarray]:
        """The slugs stored in some files, and the file (index) of each."""
        columns = [
            pq.read_table(self.files[i], columns=[RUN_KEY], pre_buffer=False).column(RUN_KEY)
            for i in indexes
        ]
        slugs = pa.chunked_array(
            [chunk for column in columns for chunk in column.chunks], type=pa.string()
        )
        fragments = np.repeat(np.asarray(indexes, dtype=np.int64), [len(c) for c in columns])
        return slugs, fragments

    def stored_table(self, index: int) -> pa.Table:
        """Every row of one stored file, in the types written, without partition columns."""
        if index not in self.tables:
            names = [n for n in self.file_schema.names if n not in self.partitions]
            table = pq.read_table(self.files[index], columns=names)
            self.tables[index] = table.cast(self.file_schema)
        return self.tables[index]

    def touched_rows(self, affected: list[int], touched: pa.Array) -> StoredRows:
        """The stored rows of the touched runs as a frame (with their partition columns), and
        the file and position of each one."""
        pieces, files, positions = [], [], []
        fragments = list(self.dataset.get_fragments())
        for index in affected:
            table = self.stored_table(index)
            holding = pc.is_in(table.column(RUN_KEY), value_set=touched)
            rows = np.flatnonzero(holding.to_numpy(zero_copy_only=False))
            keys = ds.get_partition_keys(fragments[index].partition_expression)
            pieces.append(self.with_partitions(table.take(rows), keys))
            files.append(np.full(len(rows), index))
            positions.append(rows)
        if not pieces:
            return StoredRows(self.new.head(0), np.empty(0, int), np.empty(0, int))
        frame = frame_of_table(pa.concat_tables(pieces), self.layout)
        return StoredRows(frame, np.concatenate(files), np.concatenate(positions))

    def with_partitions(self, table: pa.Table, keys: dict[str, Any]) -> pa.Table:
        """Rows of one stored file with the partition values its directory names."""
        for name in self.partitions:
            type_ = partition_field(self.layout.schema.field(name)).type
            value = keys.get(name)
            column = pa.nulls(len(table), type_) if value is None else pa.repeat(value, len(table))
            table = table.append_column(name, column.cast(type_))
        return table

    def plan(
        self, stored: StoredRows, merged: RunMerge, new_rows: pd.DataFrame
    ) -> dict[str, Recipe]:
        """How to write each file that changes (every other stays as it is)."""
        staying = merged.kept[merged.kept < merged.stored]
        stays = set(
            zip(stored.files[staying].tolist(), stored.positions[staying].tolist(), strict=True)
        )
        recipes: dict[str, Recipe] = {}

        def recipe(name: str) -> Recipe:
            if name not in recipes:
                index = self.by_name.get(name)
                base = None if index is None or index in self.dissolved else index
                recipes[name] = Recipe(base=base)
            return recipes[name]

        dropped: dict[tuple[str, int], int] = {}  # (slug, file): its first stored row dropped
        gone: dict[int, list[int]] = {}
        slugs = stored.frame[RUN_KEY].tolist()
        for index, position, slug in zip(
            stored.files.tolist(), stored.positions.tolist(), slugs, strict=True
        ):
            if (index, position) in stays:
                continue
            gone.setdefault(index, []).append(position)
            if index not in self.dissolved:
                recipe(self.names[index]).drop.append(position)
                dropped.setdefault((slug, index), position)
        destinations = file_paths(new_rows, self.partitions, self.layout)
        for row, (slug, name) in enumerate(
            zip(new_rows[RUN_KEY].tolist(), destinations, strict=True)
        ):
            index = self.by_name.get(name)
            place = dropped.pop((slug, index), None) if index is not None else None
            if place is not None:  # a new row of a run stored in this file takes its place
                recipe(name).in_place[place] = row
            else:
                recipe(name).appended.append(row)
        for index in self.dissolved:
            table = self.stored_table(index)
            survivors = np.setdiff1d(np.arange(table.num_rows), gone.get(index, []))
            directory = self.names[index].rpartition("/")[0]
            months = month_names(table.column(START_COLUMN).take(survivors))
            prefix = directory + "/" if directory else ""
            for name, rows in grouped(prefix + month_file(months)):
                recipe(name).routed.append((index, survivors[rows]))
        return recipes

    def arriving_table(self, new_rows: pd.DataFrame) -> pa.Table:
        """The new rows as a data file holds them."""
        layout, table = frame_to_table(new_rows, self.partitions)
        if layout.to_json() != self.layout.to_json():
            raise LayoutChanged(self.target)
        return table.drop_columns(list(self.partitions)).cast(self.file_schema)

    def file_tables(
        self, recipes: dict[str, Recipe], arriving: pa.Table, keep: list[str]
    ) -> Iterator[tuple[str, pa.Table]]:
        """Each file to write, with its rows; a dataset left without any file gets the one
        file of an empty dataset."""
        count = 0
        for name, recipe in recipes.items():
            parts = []
            if recipe.base is not None:
                table = self.stored_table(recipe.base)
                kept = np.setdiff1d(np.arange(table.num_rows), recipe.drop)
                places = np.array(sorted(recipe.in_place), dtype=int)
                rows = pa.concat_tables(
                    [
                        table.take(kept),
                        arriving.take(
                            np.asarray([recipe.in_place[p] for p in places], dtype=np.int64)
                        ),
                    ]
                )
                parts.append(rows.take(np.argsort(np.concatenate([kept, places]), kind="stable")))
            parts += [self.stored_table(index).take(rows) for index, rows in recipe.routed]
            parts.append(arriving.take(np.asarray(recipe.appended, dtype=np.int64)))
            table = pa.concat_tables(parts)
            if table.num_rows:  # a file whose runs all moved elsewhere is not written
                count += 1
                yield name, table
        if not count and not keep:
            yield EMPTY_FILE, self.empty_table()

    def empty_table(self) -> pa.Table:
        _, table = frame_to_table(self.new.head(0), self.partitions)
        return table


def may_hold(metadata: pq.FileMetaData, slugs: list[str]) -> bool:
    """Whether a data file may hold one of the sorted ``slugs``: one falls in the range of
    slugs a row group's statistics give (or a row group has none)."""
    schema = metadata.schema
    index = next(i for i in range(metadata.num_columns) if schema.column(i).path == RUN_KEY)
    for group in range(metadata.num_row_groups):
        column = metadata.row_group(group).column(index)
        statistics = column.statistics
        if statistics is None or not statistics.has_min_max:
            if statistics is None or statistics.null_count < column.num_values:
                return True
            continue  # every slug of the group is missing
        low = bisect.bisect_left(slugs, statistics.min)
        if low < len(slugs) and slugs[low] <= statistics.max:
            return True
    return False


@dataclass(frozen=True)
class StoredRows:
    """Stored rows, and the file (its index) and the position in it of each one."""

    frame: pd.DataFrame
    files: np.ndarray
    positions: np.ndarray
