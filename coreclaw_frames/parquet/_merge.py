"""``mode="merge"``: folding a newer fetch into what is stored, without duplicates and without
letting a failed fetch replace data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from coreclaw_frames._errors import ParquetFormatError
from coreclaw_frames.parquet._layout import (
    FETCH_ERROR,
    RESULTS_KEY,
    RUN_FRESHNESS,
    RUN_KEY,
    FrameKind,
    Layout,
    quote,
)
from coreclaw_frames.schema import with_common_status

#: Run columns a failed fetch fills in too: they say nothing about the run.
RUN_BOOKKEEPING = (RUN_KEY, RUN_FRESHNESS, FETCH_ERROR, "usage_float")


def check_mergeable(existing: Layout, new: Layout, path: Path) -> None:
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
        if name in old_specs and stored_form(old_specs[name]) != stored_form(spec)
    ]
    if new.kind == "runs" and set(old_specs) != set(new_specs):
        only_old = [n for n in old_specs if n not in new_specs]
        only_new = [n for n in new_specs if n not in old_specs]
        differ.append(f"columns only there: {only_old!r}, only in df: {only_new!r}")
    if differ:
        raise ParquetFormatError(
            f"cannot merge into {str(path)!r}, its columns differ from df's: "
            + quote(differ, repr_items=False)
        )


def stored_form(spec: dict[str, Any]) -> dict[str, Any]:
    """A column's dtype as written and read back (``object`` columns come back as strings)."""
    if spec["restore"] == "text":
        return {"restore": "arrow", "dtype": str(pd.ArrowDtype(pa.string()))}
    return {k: v for k, v in spec.items() if k not in ("name", "description")}


def merge(existing: pd.DataFrame | None, new: pd.DataFrame, kind: FrameKind) -> pd.DataFrame:
    """``new`` folded into ``existing``; a failed fetch never replaces data (see to_parquet)."""
    if kind == "results":
        if existing is None:
            return new
        # A run whose refetch gave only failed rows keeps its stored good rows, if any.
        refetch_failed = ~new[RESULTS_KEY].isin(good_keys(new))
        new = new[~(refetch_failed & new[RESULTS_KEY].isin(good_keys(existing)))]
        keep = existing[~existing[RESULTS_KEY].isin(new[RESULTS_KEY].dropna())]
        return concat(keep, new)
    return merge_runs(existing, new).frame()


@dataclass(frozen=True)
class RunMerge:
    """The rows of a run merge: ``combined`` holds the stored rows (the first ``stored``) then
    the new ones, ``kept`` the positions of the rows the merge keeps, in first-seen order."""

    combined: pd.DataFrame
    kept: np.ndarray
    stored: int
    #: Stored runs whose kept row is a new one that differs in more than its fetched_at.
    updated: int

    def frame(self) -> pd.DataFrame:
        return self.combined.take(self.kept).reset_index(drop=True)


def merge_runs(
    existing: pd.DataFrame | None, new: pd.DataFrame, *, keep_same: bool = False
) -> RunMerge:
    """The merge rule on run frames (see to_parquet): per slug, the best kind of row, then
    the newest ``fetched_at``, then the row of ``new``. With ``keep_same``, a new row that
    equals the stored one of its run in everything but ``fetched_at`` leaves the stored row."""
    stored = 0 if existing is None else len(existing)
    combined = new.reset_index(drop=True) if existing is None else concat(existing, new)
    kept = best_rows(combined)
    updated = 0
    replacing = kept[kept >= stored]
    if stored and len(replacing):
        best_stored = best_rows(combined.iloc[:stored])
        stored_slugs = combined[RUN_KEY].take(best_stored)
        present = stored_slugs.notna().to_numpy()
        position_of = pd.Series(best_stored[present], index=stored_slugs[present].array)
        slugs = combined[RUN_KEY].take(replacing)
        had = (slugs.notna() & slugs.isin(position_of.index)).to_numpy()
        replaced, replacements = position_of.loc[slugs[had].array].to_numpy(), replacing[had]
        same = same_but_fetched_at(combined.take(replaced), combined.take(replacements))
        updated = int((~same).sum())
        if keep_same and same.any():
            back = dict(zip(replacements[same], replaced[same], strict=True))
            kept = np.array([back.get(position, position) for position in kept], dtype=kept.dtype)
    return RunMerge(combined, kept, stored, updated)


def best_rows(runs: pd.DataFrame) -> np.ndarray:
    """Positions of the row each slug keeps (see :func:`merge_runs`) in first-seen order, then
    of every row without a slug."""
    codes, _ = pd.factorize(runs[RUN_KEY])
    fresh = runs[RUN_FRESHNESS].array.asi8  # NaT is the smallest int64: oldest
    positions = np.arange(len(runs))
    # Per slug the last row in this order wins: good rows come after flagged ones (run data
    # with a bad value), which come after failed fetches (no data at all), then by
    # fetched_at, then by position (the rows of df after the stored ones).
    order = np.lexsort((positions, fresh, run_quality(runs), codes))
    sorted_codes = codes[order]
    wins = np.r_[sorted_codes[1:] != sorted_codes[:-1], True] & (sorted_codes >= 0)
    return np.concatenate([order[wins], positions[codes < 0]])


def same_but_fetched_at(first: pd.DataFrame, second: pd.DataFrame) -> np.ndarray:
    """Per row pair: whether two run rows hold the same values but for ``fetched_at``."""
    same = np.ones(len(first), dtype=bool)
    for name in first.columns:
        if name == RUN_FRESHNESS:
            continue
        left, right = first[name].reset_index(drop=True), second[name].reset_index(drop=True)
        if isinstance(left.dtype, pd.CategoricalDtype) or left.dtype != right.dtype:
            left, right = left.astype(object), right.astype(object)  # category lists may differ
        equal = (left == right).to_numpy(dtype=bool, na_value=False)
        same &= equal | (left.isna() & right.isna()).to_numpy(dtype=bool)
    return same


def run_quality(runs: pd.DataFrame) -> np.ndarray:
    """Per row of a run frame: 2 fetched cleanly, 1 fetched with a value flagged in
    ``fetch_error`` (the rest of the run's data kept), 0 a failed fetch (no data)."""
    good = runs[FETCH_ERROR].isna().to_numpy()
    data = [name for name in runs.columns if name not in RUN_BOOKKEEPING]
    has_data = runs[data].notna().any(axis=1).to_numpy()
    return np.where(good, 2, np.where(has_data, 1, 0))


def good_keys(results: pd.DataFrame) -> pd.Series:
    """The run slugs of a results frame's rows without ``fetch_error``."""
    keys = results[RESULTS_KEY]
    if FETCH_ERROR in results.columns:
        keys = keys[results[FETCH_ERROR].isna()]
    return keys.dropna()


def concat(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """``pd.concat`` of two frames, columns of either side kept, without losing NA-free dtypes."""
    first, second = with_common_status([first, second])
    first, second = nullable_where_missing(first, second), nullable_where_missing(second, first)
    names = list(first.columns) + [n for n in second.columns if n not in first.columns]
    second = second[[n for n in names if n in second.columns]]
    combined = pd.concat([first.reset_index(drop=True), second.reset_index(drop=True)])
    return combined[names].reset_index(drop=True)


def nullable_where_missing(frame: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Columns ``other`` lacks become NA-capable (int64 -> Int64, bool -> boolean)."""
    changed = {
        name: frame[name].convert_dtypes(dtype_backend="numpy_nullable")
        for name in frame.columns
        if name not in other.columns
        and isinstance(frame[name].dtype, np.dtype)
        and frame[name].dtype.kind in "biu"
    }
    return frame.assign(**changed) if changed else frame
