"""``mode="merge"``: folding a newer fetch into what is stored, without duplicates and without
letting a failed fetch replace data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from coreclaw_frames.errors import ParquetFormatError
from coreclaw_frames.parquet.layout import (
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
    combined = new.reset_index(drop=True) if existing is None else concat(existing, new)
    codes, _ = pd.factorize(combined[RUN_KEY])
    fresh = combined[RUN_FRESHNESS].array.asi8  # NaT is the smallest int64: oldest
    positions = np.arange(len(combined))
    # Per slug the last row in this order wins: good rows come after flagged ones (run data
    # with a bad value), which come after failed fetches (no data at all), then by
    # fetched_at, then by position (the rows of df after the stored ones).
    order = np.lexsort((positions, fresh, run_quality(combined), codes))
    sorted_codes = codes[order]
    wins = np.r_[sorted_codes[1:] != sorted_codes[:-1], True] & (sorted_codes >= 0)
    keep_rows = np.concatenate([order[wins], positions[codes < 0]])
    return combined.take(keep_rows).reset_index(drop=True)


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
