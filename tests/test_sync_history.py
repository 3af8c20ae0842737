"""A daily sync of a dataset costs what changed: it writes only the files of the runs that
changed, reads only the columns that decide what to ask for, and takes up datasets written by
earlier versions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames._sync import KEY_COLUMNS, STATE_COLUMNS, SYNC_MARGIN
from coreclaw_frames.parquet import _files as parquet_files
from coreclaw_frames.parquet import _months as months
from coreclaw_frames.parquet._codec import frame_to_table
from coreclaw_frames.parquet._months import MONTH_FILE
from coreclaw_frames.sandbox import STATUS_RUNNING, SandboxServer, build_account, serve

DAY = 86_400
NOW = int(time.time())
SINCE = pd.Timestamp(NOW - 200 * DAY, unit="s", tz="UTC")
#: What the summary of a sync holds.
SUMMARY_KEYS = {
    "added",
    "updated",
    "unchanged",
    "runs",
    "files_written",
    "refetched",
    "failed",
    "requests",
    "listed_since",
}


@contextmanager
def live(runs: int = 1500) -> Iterator[SandboxServer]:
    """A sandbox account anchored at the machine's clock, its recent open runs inside the
    margin a later sync lists again, and two older runs still running."""
    account = build_account(runs=runs, now=NOW)
    account.remove_runs(
        [
            r["slug"]
            for r in account.runs
            if not r["finished_at"] and account.created_at(r["slug"]) < NOW - SYNC_MARGIN // 2
        ]
    )
    for days in (40, 75):
        account.add_run(created_at=NOW - days * DAY, status=STATUS_RUNNING)
    with serve(account=account) as srv:
        yield srv


def client_of(srv: SandboxServer, api_version: str = "v2") -> ccf.Client:
    return ccf.Client(api_key=srv.api_key, base_url=srv.url, api_version=api_version)


def sync(path: Path, client: ccf.Client, **kwargs):
    return ccf.sync_runs(path, client=client, progress=False, **kwargs)


def a_day_passes(srv: SandboxServer, stored: pd.DataFrame, new: int = 30) -> None:
    """New runs arrive and every run that was open finishes."""
    srv.account.add_runs(new)
    srv.account.finish_runs(list(stored.loc[stored["finished_at"].isna(), "slug"]))


def file_states(path: Path) -> dict[str, tuple[int, int]]:
    """Each data file of a dataset: its inode and modification time."""
    return {
        p.relative_to(path).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in path.rglob("*.parquet")
    }


def file_of(frame: pd.DataFrame) -> set[str]:
    """The files the runs of ``frame`` belong in (partitioned by worker), from their values."""
    month = frame["started_at"].dt.strftime("%Y-%m").fillna("unstarted")
    return set("scraper_slug=" + frame["scraper_slug"] + "/part-" + month + ".parquet")


def changed_slugs(before: pd.DataFrame, after: pd.DataFrame) -> set[str]:
    """Runs of ``after`` that are new, or whose row differs from ``before`` but for fetched_at."""
    old = before.set_index("slug").drop(columns="fetched_at")
    new = after.set_index("slug").drop(columns="fetched_at")
    known = new.index.isin(old.index)
    common = new[known].astype(object)
    stored = old.loc[common.index].astype(object)
    same = ((common == stored) | (common.isna() & stored.isna())).all(axis=1)
    return set(new.index[~known]) | set(common.index[~same.to_numpy()])


def without_fetched_at(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="fetched_at").sort_values("slug", ignore_index=True)


def test_a_daily_sync_writes_only_the_files_of_the_runs_that_changed(api_version, tmp_path: Path):
    path = tmp_path / "runs"
    with live() as srv, client_of(srv, api_version) as client:
        first = sync(path, client, since=SINCE, partition_cols=["scraper_slug"])
        states = file_states(path)
        a_day_passes(srv, first)
        summary = sync(path, client, return_frame=False)
        truth = ccf.list_runs(since=SINCE, client=client, progress=False)
        after_states = file_states(path)
        idle = sync(path, client, return_frame=False)  # runs listed again, none changed
    assert idle["files_written"] == 0 and file_states(path) == after_states
    after = ccf.read_parquet(path)
    pd.testing.assert_frame_equal(without_fetched_at(after), without_fetched_at(truth))
    changed = changed_slugs(first, after)
    touched = file_of(after[after["slug"].isin(changed)]) | file_of(
        first[first["slug"].isin(changed)]
    )
    rewritten = {name for name, state in after_states.items() if states.get(name) != state}
    assert rewritten == touched & set(after_states)
    assert summary["files_written"] == len(rewritten) and len(rewritten) < len(states) / 3
    for name in set(states) - touched:  # never written again: the same inode and time
        assert after_states[name] == states[name], name
    assert (summary["added"], summary["updated"]) == (30, len(changed) - 30)
    assert summary["unchanged"] == len(first) - summary["updated"]
    assert summary["runs"] == len(after) == len(first) + 30


def test_a_sync_returning_the_summary_reads_only_the_columns_that_decide(
    tmp_path: Path, monkeypatch
):
    path = tmp_path / "runs"
    with live() as srv, client_of(srv) as client:
        first = sync(path, client, since=SINCE, partition_cols=["scraper_slug"])
        a_day_passes(srv, first)
        selections = []
        real_read = parquet_files.read

        def read(target, selection=None):
            if selection is None or selection.columns is None:
                raise AssertionError(f"the whole history of {target} was read")
            selections.append((selection.columns, selection.filters is not None))
            return real_read(target, selection)

        def whole(*args, **kwargs):
            raise AssertionError("every stored file was read")

        monkeypatch.setattr(parquet_files, "read", read)
        monkeypatch.setattr(months, "merge_whole", whole)
        summary = sync(path, client, return_frame=False)
        monkeypatch.undo()
        assert set(summary) == SUMMARY_KEYS
        # What tells which runs to refresh, of every run; the rest of those runs only.
        assert selections == [(tuple(STATE_COLUMNS), False), (tuple(KEY_COLUMNS), True)]
        # The frame a sync returns is what is stored, and says the same of what it did.
        a_day_passes(srv, ccf.read_parquet(path), new=5)
        synced = sync(path, client)
    pd.testing.assert_frame_equal(synced, ccf.read_parquet(path))
    assert set(synced.attrs["sync"]) == SUMMARY_KEYS
    assert synced.attrs["sync"]["added"] == 5 and synced.attrs["sync"]["runs"] == len(synced)


def test_a_dataset_an_earlier_version_synced_is_synced_and_moved_to_month_files(
    api_version, tmp_path: Path
):
    path = tmp_path / "runs"
    with live() as srv, client_of(srv, api_version) as client:
        first = sync(path, client, since=SINCE, partition_cols=["scraper_slug"])
        # As earlier versions stored every dataset: one file per worker.
        _, table = frame_to_table(first, ("scraper_slug",))
        parquet_files.write_dataset(table, path, ("scraper_slug",))
        assert {p.name for p in path.rglob("*.parquet")} == {"part-0.parquet"}
        a_day_passes(srv, first)
        synced = sync(path, client)
        truth = ccf.list_runs(since=SINCE, client=client, progress=False)
    pd.testing.assert_frame_equal(without_fetched_at(synced), without_fetched_at(truth))
    pd.testing.assert_frame_equal(ccf.read_parquet(path), synced)
    assert set(file_states(path)) == file_of(synced)
    assert all(MONTH_FILE.fullmatch(p.name) for p in path.rglob("*.parquet"))
    report = synced.attrs["sync"]
    assert report["added"] == 30 and report["runs"] == len(synced) == len(first) + 30


@pytest.mark.parametrize("later", [None, []])
def test_a_history_without_partitions_is_a_directory_of_month_files(tmp_path: Path, later):
    path = tmp_path / "runs"
    with live(runs=600) as srv, client_of(srv) as client:
        first = sync(path, client, since=SINCE, partition_cols=[])
        assert {p.parent for p in path.rglob("*.parquet")} == {path}
        a_day_passes(srv, first)
        synced = sync(path, client, partition_cols=later)  # the dataset's own partitioning
        truth = ccf.list_runs(since=SINCE, client=client, progress=False)
        with pytest.raises(ccf.ParquetFormatError, match=r"partitioned by None, not \['origin'"):
            sync(path, client, partition_cols=["origin"])
    pd.testing.assert_frame_equal(without_fetched_at(synced), without_fetched_at(truth))
    month = synced["started_at"].dt.strftime("%Y-%m").fillna("unstarted")
    assert {p.name for p in path.iterdir()} == set("part-" + month + ".parquet")
