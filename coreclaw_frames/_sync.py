"""Keep a local copy of Run History current: :func:`sync_runs` into a Parquet file or dataset.

The first sync of a path lists Run History from ``since`` and writes it. A later sync lists only
the runs created since shortly before the previous sync began: from when it began covers the
runs created while it ran, and :data:`SYNC_MARGIN` before that covers what a clock reading can
miss. Times are kept by the server's clock (the ``Date`` of its answers), so a machine whose
clock is hours off loses nothing. v2 filters on creation time to the second and months need no
overlap (each is listed on its own); v1 lists newest first and stops at the first page older
than that.

A later sync then brings every stored run that is not final up to date: by listing again the
window it was created in, where that costs fewer requests than one detail request per run, by
slug otherwise. Of the stored runs it reads only what decides this: the few columns that
tell whether a run is final (:data:`STATE_COLUMNS`), then the :data:`KEY_COLUMNS` of the runs
to refresh from the months they started in, never the whole history. Everything goes in as
``to_parquet(mode="merge")`` merges: new runs are added, changed runs replace their row (the
newest ``fetched_at`` wins, and a failed fetch never replaces data), nothing is duplicated,
and nothing is ever deleted. A run fetched again whose row is the same but for its
``fetched_at`` keeps its stored row, so a dataset's files are written only where runs were
added or changed (see :mod:`coreclaw_frames.parquet._months`).

The previous sync's time, and the server, API version and account the path holds, live in a
small JSON file next to the data (``.<name>.sync.json``, see :mod:`coreclaw_frames._sync_state`),
written after the data and atomically. A sync interrupted anywhere leaves the data as they were
or fully updated (``to_parquet`` replaces files atomically), and the state can only lag behind
the data: the next sync lists a little more, and completes it.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from coreclaw_frames._batch import check_progress, check_time, client_or_default
from coreclaw_frames._errors import NotFoundError
from coreclaw_frames._runs import fetch_runs, list_runs
from coreclaw_frames._sync_state import SyncState, new_key_fields, state_path
from coreclaw_frames.analysis._frame import final_mask
from coreclaw_frames.api import Client
from coreclaw_frames.parquet import check_write, merge_runs_into, read_parquet
from coreclaw_frames.parquet._arguments import as_path, holds_data
from coreclaw_frames.parquet._files import recover
from coreclaw_frames.schema import RUN_DTYPES, empty_run_frame, with_common_status

__all__ = ["SYNC_MARGIN", "SyncState", "previous_sync", "state_path", "sync_runs"]

#: A later sync lists runs created from this long before the previous sync began (seconds,
#: by the server's clock): room for a ``Date`` that names whole seconds, for answers in
#: flight, for a server whose machines disagree, and for a previous sync without any ``Date``
#: (this machine's clock then stands in for the server's).
SYNC_MARGIN = 3_600
#: How many stored runs a new key is asked for, to show that it reads the same account.
KEY_CHECK_RUNS = 3
#: A run is created at most this long before it starts (seconds): a window listed again to
#: find a run starts this much before the run's start.
QUEUE_MARGIN = 3_600
#: Run columns worth partitioning by.
PARTITION_EXAMPLES = ("scraper_slug", "scraper_title", "version", "origin", "status")
#: What a sync reads of every stored run: what tells whether it is final, and when it started.
STATE_COLUMNS = ["status", "started_at", "finished_at", "fetch_error"]
#: What a sync reads of the stored runs to refresh: never the whole history.
KEY_COLUMNS = ["slug", *STATE_COLUMNS, "fetched_at"]


def previous_sync(target: Path) -> SyncState | None:
    """What the previous sync of ``target`` remembers; None before the first, or when its
    data are gone (a state without its data is void)."""
    return SyncState.load(target) if holds_data(target) else None


@overload
def sync_runs(
    path: str | os.PathLike[str],
    *,
    since: Any = ...,
    client: Client | None = ...,
    partition_cols: list[str] | None = ...,
    progress: bool | None = ...,
    new_key: bool = ...,
    return_frame: Literal[True] = ...,
) -> pd.DataFrame: ...


@overload
def sync_runs(
    path: str | os.PathLike[str],
    *,
    since: Any = ...,
    client: Client | None = ...,
    partition_cols: list[str] | None = ...,
    progress: bool | None = ...,
    new_key: bool = ...,
    return_frame: Literal[False],
) -> dict[str, Any]: ...


def sync_runs(
    path: str | os.PathLike[str],
    *,
    since: Any = None,
    client: Client | None = None,
    partition_cols: list[str] | None = None,
    progress: bool | None = None,
    new_key: bool = False,
    return_frame: bool = True,
) -> pd.DataFrame | dict[str, Any]:
    """Bring the Parquet file or dataset at ``path`` up to date with Run History.

    The first sync lists Run History from ``since`` and writes it. Later syncs list only what
    is new since shortly before the previous one began, and refresh the runs that were not
    final. New runs are added, changed runs replace their row, nothing is ever deleted, and
    the data are replaced atomically: a sync interrupted anywhere leaves them as they were or
    fully updated. See the module documentation.

    Parameters
    ----------
    path : str or os.PathLike
        A Parquet file, or with ``partition_cols`` a dataset directory. Its parent must exist.
        The time of the previous sync is kept next to it, in ``.<name>.sync.json``.
    since : time, optional
        Where Run History is listed from: anything ``pd.Timestamp`` takes (naive is UTC) or
        unix seconds. Required by the first sync; earlier than the first sync's, it extends the
        history back.
    client : Client, optional
        The client to use; by default one built from the environment.
    partition_cols : list of str, optional
        The first sync's partition columns (``["scraper_slug"]``; ``[]`` for a dataset
        directory without partitions). A later sync keeps the dataset's own and refuses others.
    progress : bool, optional
        Show the listing's progress bar and a closing line on stderr; default: when
        interactive.
    new_key : bool, default False
        The account's API key changed: ask the new key for a few stored runs (at most
        :data:`KEY_CHECK_RUNS`, one request each). If it reads them the sync goes on and the
        path remembers the new key; if it reads none, the path belongs to another account and
        nothing changes. Without it, a path refuses a key other than the one it remembers (by
        a keyed hash, never the key itself).
    return_frame : bool, default True
        Return the whole current frame. With False only the report is returned and the stored
        history is never read into memory: a daily sync of a long history then costs what
        changed.

    Returns
    -------
    pandas.DataFrame or dict
        The whole current frame, as ``read_parquet(path)`` would return it, whose
        ``attrs["sync"]`` says what the sync did: ``added``, ``updated`` and ``unchanged``
        runs, ``runs`` stored now, ``files_written`` (data files written; the others were kept
        as they were), ``refetched`` (by slug) and ``failed`` (refetches that failed; their
        stored rows are kept), ``requests`` sent, and ``listed_since`` (UTC, by the server's
        clock). With ``return_frame=False``, that dict alone.

    Raises
    ------
    TypeError, ValueError
        Before any request: bad arguments, a first sync without ``since``, a path last synced
        from another server, API version or account, or a damaged state file.
    ParquetFormatError
        Before any request: ``path`` holds something a merge would refuse (another kind of
        frame, other columns, another partitioning).
    CoreClawError
        The listing failed (a bad key, a host that cannot be reached); nothing was written.

    Examples
    --------
    >>> runs = ccf.sync_runs("runs", since="2026-01-01",
    ...                      partition_cols=["scraper_slug"])  # doctest: +SKIP
    >>> runs.attrs["sync"]  # doctest: +SKIP
    {'added': 1204, 'updated': 0, 'unchanged': 0, 'runs': 1204, ...}
    >>> ccf.sync_runs("runs", return_frame=False)["files_written"]  # doctest: +SKIP
    9
    """
    target = as_path(path)
    start = check_time("since", since)
    show = check_progress(progress)
    for name, value in (("new_key", new_key), ("return_frame", return_frame)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    recover(target)
    _check_run_columns(partition_cols)
    # Everything the final merge would refuse, refused before any request.
    check_write(empty_run_frame(), target, partition_cols=partition_cols, mode="merge")
    state = previous_sync(target)
    with client_or_default(client) as active:
        _check_same_api(state, active, target)
        key_changed = _check_same_key(state, active, target, new_key)
        if state is None and start is None:
            raise ValueError(
                f"the first sync of {str(target)!r} needs since=, the date Run History is "
                "listed from, e.g. since='2026-01-01'"
            )
        stored = _stored_runs(target) if holds_data(target) else None
        began = time.time()
        sent = active.requests_sent
        if key_changed:
            _check_same_account(target, active)
        fresh, listed_since = _listed(state, start, active, show)
        refetched = failed = 0
        if stored is not None:
            starts, pending = stored
            extra, refetched, failed = _refreshed(starts, pending, fresh, active, show)
            fresh = _concat([fresh, extra])
        merged = merge_runs_into(fresh, target, partition_cols=partition_cols, keep_same=True)
        requests = active.requests_sent - sent
        offset = _server_clock_offset(active, fresh)
        first_since = min(t for t in (start, state.since if state else None) if t is not None)
        keep_key = state is not None and state.key_salt is not None and not key_changed
        key = (
            {"key_salt": state.key_salt, "key_digest": state.key_digest}
            if keep_key and state is not None
            else new_key_fields(active.key_digest)
        )
        SyncState(
            base_url=active.base_url,
            api_version=active.api_version,
            since=first_since,
            listed_at=int(began + offset),
            synced_at=int(time.time() + offset),
            **key,
        ).save(target)
    report: dict[str, Any] = {
        "added": merged.added,
        "updated": merged.updated,
        "unchanged": merged.stored - merged.updated,
        "runs": merged.runs,
        "files_written": len(merged.written),
        "refetched": refetched,
        "failed": failed,
        "requests": requests,
        "listed_since": pd.Timestamp(listed_since, unit="s", tz="UTC"),
    }
    if show:
        print(
            f"sync {target}: {report['added']:,} added, {report['updated']:,} updated, "
            f"{report['unchanged']:,} unchanged; {requests:,} requests"
            + (f"; {failed:,} refetches failed, their stored rows kept" if failed else ""),
            file=sys.stderr,
        )
    if not return_frame:
        return report
    after = read_parquet(target)
    after.attrs["sync"] = report
    return after


def _listed(
    state: SyncState | None, start: int | None, client: Client, progress: bool
) -> tuple[pd.DataFrame, int]:
    """Run History listed by this sync, and from when."""
    if state is None:
        assert start is not None
        return list_runs(since=_utc(start), client=client, progress=progress), start
    listed_since = state.listed_at - SYNC_MARGIN
    frames = [list_runs(since=_utc(listed_since), client=client, progress=progress)]
    if start is not None and start < state.since:  # extend the history back
        frames.append(
            list_runs(since=_utc(start), until=_utc(state.since), client=client, progress=progress)
        )
        listed_since = start
    return _concat(frames), listed_since


def _stored_runs(target: Path) -> tuple[pd.Series, pd.DataFrame]:
    """What a sync needs of the stored runs: when each started, and the :data:`KEY_COLUMNS`
    of those to refresh (not final, or fetched with an error). Reads the few columns that tell
    which those are, then the rest only from the months they started in: a dataset's files
    of other months are not read (their footers say what they hold)."""
    state = read_parquet(target, columns=STATE_COLUMNS)
    refresh = ~_final(state)
    if not refresh.any():
        return state["started_at"], empty_run_frame()[KEY_COLUMNS]
    started = state.loc[refresh, "started_at"]
    months = started.dropna().dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("M").unique()
    bounds = [(_utc_month(month.start_time), _utc_month(month.end_time)) for month in months]
    where = [pc.field("started_at").is_null()] if started.isna().any() else []
    where += [
        (pc.field("started_at") >= low) & (pc.field("started_at") <= high) for low, high in bounds
    ]
    condition = where[0]
    for term in where[1:]:
        condition = condition | term
    candidates = read_parquet(target, columns=KEY_COLUMNS, filters=condition)
    return state["started_at"], candidates[~_final(candidates)].reset_index(drop=True)


def _utc_month(moment: pd.Timestamp) -> pd.Timestamp:
    return moment.tz_localize("UTC")


def _refreshed(
    stored_starts: pd.Series,
    pending: pd.DataFrame,
    listed: pd.DataFrame,
    client: Client,
    progress: bool,
) -> tuple[pd.DataFrame, int, int]:
    """Fresh rows of the stored runs that are not final (or whose fetch failed) and were not
    listed just now; with how many were asked for by slug and how many of those failed."""
    seen = set(listed["slug"])
    pending = pending[~pending["slug"].isin(seen)]
    frames = []
    by_slug = list(pending["slug"])
    windows = _windows_to_list(stored_starts, pending, client)
    for since, until in windows:
        frame = list_runs(since=_utc(since), until=_utc(until), client=client, progress=progress)
        frames.append(frame)
        found = set(frame["slug"])
        by_slug = [slug for slug in by_slug if slug not in found]
    failed = 0
    if by_slug:
        fetched = fetch_runs(by_slug, client=client, errors="coerce", progress=progress)
        failed = int(fetched["fetch_error"].notna().sum())
        frames.append(fetched)
    return _concat(frames), len(by_slug), failed


def _windows_to_list(
    stored_starts: pd.Series, pending: pd.DataFrame, client: Client
) -> list[tuple[int, int]]:
    """Time windows worth listing again: those whose pages cost fewer requests than fetching
    their pending runs one by one; none on an API that cannot list a window (v1)."""
    started = pending["started_at"].dropna()
    if started.empty:
        return []
    low = int(started.min().timestamp()) - QUEUE_MARGIN
    high = int(started.max().timestamp()) + 1
    windows = client.history_windows(low, high)
    if windows is None:
        return []
    all_starts = _seconds(stored_starts.dropna())
    pending_starts = _seconds(started)
    chosen = []
    for since, until in windows:
        wanted = int(np.count_nonzero((pending_starts >= since) & (pending_starts < until)))
        if not wanted:
            continue
        in_window = int(np.count_nonzero((all_starts >= since) & (all_starts < until)))
        pages = math.ceil(in_window / client.max_page_size) or 1
        if pages < wanted:
            chosen.append((since, until))
    return chosen


def _seconds(times: pd.Series) -> np.ndarray:
    """Unix seconds of UTC timestamps, whatever their unit."""
    return times.dt.as_unit("s").astype("int64").to_numpy()


def _final(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose run is final (as ``api.is_final`` decides) and whose fetch did not fail."""
    return final_mask(frame) & frame["fetch_error"].isna().to_numpy()


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Run frames end to end, their status categories united (a status no version documents
    may be in one and not another)."""
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return empty_run_frame()
    return pd.concat(with_common_status(frames), ignore_index=True)


def _check_run_columns(partition_cols: Any) -> None:
    """Refuse partition columns a run frame does not have, naming those it does."""
    if isinstance(partition_cols, list | tuple):
        unknown = [n for n in partition_cols if isinstance(n, str) and n not in RUN_DTYPES]
        if unknown:
            raise ValueError(
                f"cannot partition runs by {unknown!r}: not a run column; partition by "
                f"columns such as {list(PARTITION_EXAMPLES)!r}"
            )


def _check_same_key(state: SyncState | None, client: Client, target: Path, new_key: bool) -> bool:
    """Refuse, before any request, a key other than the one ``target`` was synced with,
    unless ``new_key``; returns whether the key changed (to be checked, then remembered)."""
    same = state.same_key(client.key_digest) if state is not None else None
    if same is not False:
        return False
    if new_key:
        return True
    raise ValueError(
        f"{str(target)!r} holds the runs of the account of another API key; sync this key's "
        "account into another path, or, if this account's key changed, pass new_key=True "
        "(the command line: --new-key): the new key is then asked for a few stored runs and "
        "the sync goes on only if it reads them"
    )


def _check_same_account(target: Path, client: Client) -> None:
    """Ask a new key for a few stored final runs: reading one shows the same account."""
    stored = read_parquet(target, columns=KEY_COLUMNS)
    final = stored.loc[_final(stored)].sort_values("fetched_at", ascending=False)
    for slug in final["slug"].head(KEY_CHECK_RUNS):
        try:
            client.run_detail(slug)
        except NotFoundError:
            continue
        return
    if len(final):
        raise ValueError(
            f"the new API key does not read the runs stored in {str(target)!r} (asked for "
            f"{min(len(final), KEY_CHECK_RUNS)}, none found): it belongs to another account; "
            "nothing was changed"
        )


def _server_clock_offset(client: Client, listed: pd.DataFrame) -> float:
    """How far the server's clock is ahead of this machine's (seconds), to record the sync's
    times by the server's clock: from the ``Date`` of its answers, else at least as far ahead
    as the newest time a run reported (0 when this machine's clock seems ahead)."""
    if client.clock_offset is not None:
        return client.clock_offset
    times = pd.concat([listed["started_at"], listed["finished_at"]]).dropna()
    if times.empty:
        return 0.0
    return max(0.0, times.max().timestamp() - time.time())


def _check_same_api(state: SyncState | None, client: Client, target: Path) -> None:
    if state is not None and (state.base_url, state.api_version) != (
        client.base_url,
        client.api_version,
    ):
        raise ValueError(
            f"{str(target)!r} was synced from {state.base_url} (API {state.api_version}), not "
            f"{client.base_url} (API {client.api_version}); sync another API into another path"
        )


def _utc(seconds: int) -> pd.Timestamp:
    return pd.Timestamp(seconds, unit="s", tz="UTC")
