"""A history that scales: run datasets in month files, merges that write only what changed,
datasets of earlier versions migrated, and reads of only the columns and rows asked for."""

from __future__ import annotations

import errno
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import coreclaw_frames as ccf
from coreclaw_frames.parquet import _files as parquet_files
from coreclaw_frames.parquet import _months as months
from coreclaw_frames.parquet import _versions as versions
from coreclaw_frames.parquet import merge_runs_into, read_parquet, to_parquet
from coreclaw_frames.parquet._codec import frame_to_table
from coreclaw_frames.parquet._merge import merge
from coreclaw_frames.sandbox import build_account, run_frame
from coreclaw_frames.schema import RUN_DTYPES

#: The sandbox account's clock: its history lies in the six months before.
NOW = pd.Timestamp("2026-03-16T00:00:00Z")
UNSTARTED = "part-unstarted.parquet"


@pytest.fixture(scope="module")
def account_runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A history of 3,000 runs, and the same account a few hours later: 40 new runs (some not
    started yet, some running), and every run that was open then finished."""
    account = build_account(seed=5, runs=3000)
    before = run_frame(account)
    account.advance(account.now + 6 * 3600)
    account.add_runs(40)
    account.finish_runs([slug for slug in before.loc[before["finished_at"].isna(), "slug"]])
    return before, run_frame(account)


def changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``after`` that are new or differ from ``before`` (but for fetched_at)."""
    old = before.set_index("slug").drop(columns="fetched_at")
    new = after.set_index("slug").drop(columns="fetched_at")
    known = new.index.isin(old.index)
    common = new[known].astype(object).where(new[known].notna(), None)
    stored = old.loc[common.index].astype(object).where(old.loc[common.index].notna(), None)
    differ = ~((common == stored) | (common.isna() & stored.isna())).all(axis=1)
    slugs = set(new.index[~known]) | set(common.index[differ.to_numpy()])
    return after[after["slug"].isin(slugs)].reset_index(drop=True)


def file_states(path: Path) -> dict[str, tuple[int, int]]:
    """Each data file of a dataset: its inode and modification time."""
    return {
        p.relative_to(path).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in path.rglob("*.parquet")
    }


def file_of(frame: pd.DataFrame, partition: str | None) -> pd.Series:
    """The file each run belongs in, computed from its values alone."""
    month = frame["started_at"].dt.strftime("%Y-%m").fillna("unstarted")
    name = "part-" + month + ".parquet"
    if partition is None:
        return name
    return f"{partition}=" + frame[partition].astype(str) + "/" + name


def by_slug(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("slug", ignore_index=True)


# --- the layout --------------------------------------------------------------------------------


@pytest.mark.parametrize("partition", ["scraper_slug", None])
def test_a_run_dataset_holds_one_file_per_month_of_start_and_no_extra_column(
    account_runs, tmp_path: Path, partition
):
    runs, _ = account_runs
    partitions = [partition] if partition else []
    path = to_parquet(runs, tmp_path / "runs", partition_cols=partitions)
    expected = set(file_of(runs, partition))
    assert set(file_states(path)) == expected
    assert len({name.rsplit("/", 1)[-1] for name in expected}) == 8  # seven months, unstarted
    for name in expected:
        stored = pq.read_table(path / name)
        rows = runs[file_of(runs, partition) == name]
        assert sorted(stored.column("slug").to_pylist()) == sorted(rows["slug"])
        assert stored.column_names == [c for c in runs.columns if c not in partitions]
    back = read_parquet(path)
    pd.testing.assert_frame_equal(by_slug(back), by_slug(runs))


def test_a_dataset_without_partitions_is_written_merged_and_read(account_runs, tmp_path: Path):
    before, after = account_runs
    path = to_parquet(before, tmp_path / "runs", partition_cols=[])
    assert all(p.parent == path for p in path.rglob("*.parquet"))
    to_parquet(after, path, mode="merge")  # no partition_cols: the dataset's own (none)
    assert set(file_states(path)) == set(file_of(after, None))
    pd.testing.assert_frame_equal(
        by_slug(read_parquet(path)).drop(columns="fetched_at"),
        by_slug(after).drop(columns="fetched_at"),
    )
    with pytest.raises(ValueError, match=r"is a directory, expected a file path .* \[\] for no"):
        to_parquet(before, path)
    with pytest.raises(ccf.ParquetFormatError, match=r"partitioned by None, not \['origin'\]"):
        to_parquet(before, path, partition_cols=["origin"], mode="merge")


def test_a_results_dataset_without_partitions_is_one_file(tmp_path: Path):
    results = pd.DataFrame({"run_slug": pd.array(["a", "b"], dtype=pd.ArrowDtype(pa.string()))})
    path = to_parquet(results, tmp_path / "results", partition_cols=[])
    assert [p.name for p in path.iterdir()] == ["part-0.parquet"]
    pd.testing.assert_frame_equal(read_parquet(path), results)


# --- merges that write what changed ----------------------------------------------------------


@pytest.mark.parametrize("partition", ["scraper_slug", None])
def test_a_merge_rewrites_only_the_files_holding_new_or_changed_runs(
    account_runs, tmp_path: Path, partition
):
    before, after = account_runs
    path = to_parquet(before, tmp_path / "runs", partition_cols=[partition] if partition else [])
    states = file_states(path)
    changed = changes(before, after)
    assert 40 <= len(changed) < 200  # the new runs and the runs that were open
    moved = before[before["slug"].isin(changed["slug"])]
    report = merge_runs_into(changed, path)
    after_states = file_states(path)
    # Written: the files the changed runs go to, and those they leave (unless left empty).
    touched = set(file_of(changed, partition)) | set(file_of(moved, partition))
    assert len(touched) < len(states) / 3
    rewritten = {name for name, state in after_states.items() if states.get(name) != state}
    assert rewritten == set(report.written) == touched & set(after_states)
    for name in set(states) - touched:  # the same file: its inode and time
        assert after_states[name] == states[name], name
    gone = set(states) - set(after_states)
    assert gone <= {n for n in touched if n.endswith(UNSTARTED)}  # all their runs started
    expected = merge(before, changed, "runs")
    pd.testing.assert_frame_equal(by_slug(read_parquet(path)), by_slug(expected))
    assert (report.stored, report.runs) == (len(before), len(expected))
    assert report.added == 40 and report.updated == len(changed) - 40


def test_a_merge_of_rows_the_same_but_for_fetched_at(account_runs, tmp_path: Path):
    before, _ = account_runs
    path = to_parquet(before, tmp_path / "runs", partition_cols=["scraper_slug"])
    states = file_states(path)
    later = before["fetched_at"].max() + pd.Timedelta(hours=1)
    again = before.head(500).assign(fetched_at=later)
    report = merge_runs_into(again, path, keep_same=True)  # as a sync merges
    assert (report.written, report.updated, report.added) == ((), 0, 0)
    assert file_states(path) == states
    pd.testing.assert_frame_equal(by_slug(read_parquet(path)), by_slug(before))
    # The merge rule itself takes the newer fetch: to_parquet's merge writes its files.
    to_parquet(again, path, mode="merge")
    merged = read_parquet(path).set_index("slug")
    assert (merged.loc[again["slug"], "fetched_at"] == later).all()
    assert set(file_states(path)) == set(states)
    assert file_states(path) != states


def test_where_files_cannot_be_linked_the_unchanged_ones_are_copied(
    account_runs, tmp_path: Path, monkeypatch
):
    before, after = account_runs
    path = to_parquet(before, tmp_path / "runs", partition_cols=["scraper_slug"])
    contents = {p.relative_to(path): p.read_bytes() for p in path.rglob("*.parquet")}

    refused = []

    def no_links(source, destination):
        refused.append(source)
        raise OSError(errno.EPERM, "Operation not permitted", str(source))

    monkeypatch.setattr(versions.os, "link", no_links)
    changed = changes(before, after)
    report = merge_runs_into(changed, path)
    copied = {p.relative_to(path): p.read_bytes() for p in path.rglob("*.parquet")}
    kept = {name for name in copied if name.as_posix() not in report.written}
    assert len(refused) == len(kept) > 0  # each kept file: a link refused, then a copy
    assert all(copied[name] == contents[name] for name in kept)
    pd.testing.assert_frame_equal(
        by_slug(read_parquet(path)), by_slug(merge(before, changed, "runs"))
    )


def test_merging_nothing_new_writes_nothing(account_runs, tmp_path: Path):
    before, _ = account_runs
    path = to_parquet(before, tmp_path / "runs", partition_cols=["scraper_slug"])
    states = file_states(path)
    older = before.head(50).assign(fetched_at=before["fetched_at"] - pd.Timedelta(days=400))
    assert merge_runs_into(older, path).written == ()  # an older fetch: the stored rows win
    assert merge_runs_into(before.head(0), path).written == ()
    assert file_states(path) == states


def test_a_merge_reads_only_the_files_it_writes(account_runs, tmp_path: Path, monkeypatch):
    before, after = account_runs
    path = to_parquet(before, tmp_path / "runs", partition_cols=["scraper_slug"])
    states = file_states(path)
    changed = changes(before, after)
    moved = before[before["slug"].isin(changed["slug"])]

    def whole(*args, **kwargs):
        raise AssertionError("the whole history was read")

    monkeypatch.setattr(months, "merge_whole", whole)
    monkeypatch.setattr(parquet_files, "read", whole)
    read: dict[str, list[str]] = {"slugs": [], "whole": []}
    real_read_table = months.pq.read_table

    def read_table(file, **options):
        kind = "slugs" if options.get("columns") == ["slug"] else "whole"
        read[kind].append(Path(file).relative_to(path).as_posix())
        return real_read_table(file, **options)

    monkeypatch.setattr(months.pq, "read_table", read_table)
    merge_runs_into(changed, path)
    # Read: the slugs of the files whose footers say they may hold a run of the frame, then
    # whole the files that hold one, or gain one: all of them files to write.
    touched = set(file_of(changed, "scraper_slug")) | set(file_of(moved, "scraper_slug"))
    for kind, names in read.items():
        assert names and set(names) <= touched & set(states), kind
        assert len(names) == len(set(names)), kind


def test_a_run_stored_twice_is_one_row_once_merged(account_runs, tmp_path: Path):
    before, _ = account_runs
    twice = pd.concat([before, before.head(3)], ignore_index=True)  # an overwrite stores it all
    path = to_parquet(twice, tmp_path / "runs", partition_cols=["scraper_slug"])
    assert len(read_parquet(path)) == len(before) + 3
    to_parquet(before.head(3), path, mode="merge")
    merged = read_parquet(path)
    assert merged["slug"].is_unique and len(merged) == len(before)
    pd.testing.assert_frame_equal(by_slug(merged), by_slug(before))


# --- datasets of earlier versions -------------------------------------------------------------


def write_as_earlier_versions_did(frame: pd.DataFrame, path: Path, partitions: tuple[str, ...]):
    """One file per partition, ``part-0.parquet``: the writer results datasets still use."""
    _, table = frame_to_table(frame, partitions)
    parquet_files.write_dataset(table, path, partitions)


def test_a_dataset_of_the_earlier_layout_is_read_as_it_is_then_migrated(
    account_runs, tmp_path: Path
):
    before, after = account_runs
    path = tmp_path / "runs"
    write_as_earlier_versions_did(before, path, ("scraper_slug",))
    assert {p.name for p in path.rglob("*.parquet")} == {"part-0.parquet"}
    # Read as it is: grouped by partition, in written order within each.
    expected = before.sort_values("scraper_slug", kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(read_parquet(path), expected)
    changed = changes(before, after)
    report = merge_runs_into(changed, path)  # the first write splits it into month files
    assert set(file_states(path)) == set(file_of(after, "scraper_slug"))
    assert set(report.written) == set(file_states(path))
    assert (report.added, report.runs) == (40, len(after))
    pd.testing.assert_frame_equal(
        by_slug(read_parquet(path)), by_slug(merge(before, changed, "runs"))
    )
    states = file_states(path)
    newest = after.sort_values("started_at").tail(1)
    newest = newest.assign(results=pd.array([123_456], dtype="Int64"))
    later = merge_runs_into(newest, path)  # from then on, only what changed is written
    assert list(later.written) == list(file_of(newest, "scraper_slug"))
    assert sum(file_states(path)[n] != s for n, s in states.items()) == 1


def test_files_describing_their_frame_otherwise_are_all_rewritten(account_runs, tmp_path: Path):
    before, _ = account_runs
    path = to_parquet(before, tmp_path / "runs", partition_cols=["scraper_slug"])
    for file in path.rglob("*.parquet"):  # as a release with other column descriptions wrote
        table = pq.read_table(file)
        metadata = table.schema.metadata
        key = b"coreclaw_frames.frame"
        metadata[key] = metadata[key].replace(b"Cost in USD, exact", b"What the run cost")
        pq.write_table(table.replace_schema_metadata(metadata), file)
    assert b"What the run cost" in pq.read_schema(file).metadata[key]
    states = file_states(path)
    report = merge_runs_into(before.head(1).assign(results=pd.array([7], dtype="Int64")), path)
    assert report.kept == 0 and set(report.written) == set(states)  # one description again
    assert all(
        b"Cost in USD, exact" in pq.read_schema(f).metadata[key] for f in path.rglob("*.parquet")
    )
    assert read_parquet(path).set_index("slug").loc[before["slug"].iloc[0], "results"] == 7


# --- reading a part ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored(account_runs, tmp_path_factory) -> dict[str, Path]:
    before, _ = account_runs
    directory = tmp_path_factory.mktemp("stored")
    return {
        "file": to_parquet(before, directory / "runs.parquet"),
        "dataset": to_parquet(before, directory / "runs", partition_cols=["scraper_slug"]),
        "unpartitioned": to_parquet(before, directory / "flat", partition_cols=[]),
    }


def one_worker_recent(frame: pd.DataFrame, worker: str, since: pd.Timestamp) -> pd.Series:
    return (frame["scraper_slug"] == worker) & (frame["started_at"] >= since)


@pytest.mark.parametrize("kind", ["file", "dataset", "unpartitioned"])
def test_filters_and_columns_read_exactly_that_part(stored, kind):
    path = stored[kind]
    full = read_parquet(path)
    worker = full["scraper_slug"].dropna().iloc[0]
    since = NOW - pd.Timedelta(days=90)
    columns = ["usage", "started_at", "status", "slug"]
    expected = full.loc[one_worker_recent(full, worker, since), columns].reset_index(drop=True)
    assert 0 < len(expected) < len(full) / 4
    for filters in (
        [("scraper_slug", "=", worker), ("started_at", ">=", since)],
        (pc.field("scraper_slug") == worker) & (pc.field("started_at") >= since),
    ):
        part = read_parquet(path, columns=columns, filters=filters)
        pd.testing.assert_frame_equal(part, expected)
        assert part.dtypes.to_dict() == {name: RUN_DTYPES[name] for name in columns}


@pytest.mark.parametrize("kind", ["file", "dataset"])
def test_filters_in_either_form_and_columns_alone(stored, kind):
    path = stored[kind]
    full = read_parquet(path)
    either = [[("status", "=", "failed")], [("usage", ">", Decimal("0.5")), ("results", "<", 10)]]
    wanted = (full["status"] == "failed").fillna(False) | (
        (full["usage"] > Decimal("0.5")) & (full["results"] < 10)
    ).fillna(False)
    pd.testing.assert_frame_equal(
        read_parquet(path, filters=either), full[wanted.to_numpy(bool)].reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(
        read_parquet(path, columns=["scraper_slug"]), full[["scraper_slug"]]
    )


def test_columns_of_a_file_of_an_earlier_schema_version_include_the_derived_ones():
    path = Path(__file__).parent / "data" / "runs_schema_v1.parquet"
    full = read_parquet(path)
    part = read_parquet(path, columns=["usage_float", "slug"])
    pd.testing.assert_frame_equal(part, full[["usage_float", "slug"]])


@pytest.mark.parametrize(
    ("columns", "filters", "error", "message"),
    [
        (["usage", "nope"], None, ValueError, r"columns 'nope' not in .*runs.*; its columns are"),
        ("usage", None, TypeError, r"columns must be a list .* wrap it as \['usage'\]"),
        ([], None, ValueError, "columns is empty; pass None"),
        (["usage", "usage"], None, ValueError, "columns has duplicates: 'usage'"),
        ([3], None, TypeError, "column names"),
        (None, [("nope", "=", 1)], ValueError, r"filters name 'nope', not columns of"),
        (None, [("status", "~", "x")], ValueError, r"unknown operator '~'; expected one of"),
        (None, [("status", "=")], ValueError, r"a \(column, op, value\) tuple"),
        (None, [], ValueError, "filters is empty; pass None"),
        (None, "status = 'failed'", TypeError, "filters must be a list of"),
        (
            None,
            [("started_at", ">=", "2026-01-01")],
            ValueError,
            r"cannot be applied .*timestamp.*string.*pd.Timestamp\('2026-01-01', tz='UTC'\)",
        ),
        (
            None,
            [("started_at", ">=", pd.Timestamp("2026-01-01"))],
            ValueError,
            "cannot be applied",
        ),
        (None, pc.field("nope") > 1, ValueError, r"No match for FieldRef.Name\(nope\)"),
    ],
)
def test_bad_columns_and_filters_are_refused_clearly(stored, columns, filters, error, message):
    for kind in ("file", "dataset"):
        with pytest.raises(error, match=message):
            read_parquet(stored[kind], columns=columns, filters=filters)
