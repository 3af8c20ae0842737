"""Parquet: exact round trips, partitioned datasets, merging, results frames, other readers."""

from __future__ import annotations

import errno
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coreclaw_frames as ccf
from coreclaw_frames import CoreClawError, ParquetFormatError
from coreclaw_frames._records import records_to_frame
from coreclaw_frames._results import results_frame as build_results_frame
from coreclaw_frames.api._v1 import V1
from coreclaw_frames.parquet import FRAME_METADATA_KEY, read_parquet, to_parquet
from coreclaw_frames.parquet import _files as parquet_files
from coreclaw_frames.parquet import _versions as versions
from coreclaw_frames.sandbox import build_account
from coreclaw_frames.schema import (
    RUN_COLUMNS,
    RUN_DTYPES,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    STATUS_LABELS,
    empty_run_frame,
    run_arrow_schema,
)

FETCHED = pd.Timestamp("2026-03-16T00:00:00Z")
LATER = pd.Timestamp("2026-03-17T00:00:00Z")
FAILED_SLUGS = ("01KSFDS8XWTJME33C08XMCR6B9", "01KSFDS8XWTJME33C08XMCR6BA")
ARROW_STRING = pd.ArrowDtype(pa.string())
#: A column name no frame here has: the month a run's file is named after, to sort by.
MONTH_KEY = "__month_of_file"
#: The name of a month file of a run dataset.
MONTH_FILE = re.compile(r"part-(\d{4}-\d{2}|unstarted)\.parquet")
#: What Arrow, pandas and this module may put in a file's key-value metadata, and nothing else.
EXPECTED_METADATA_KEYS = {b"ARROW:schema", b"pandas", SCHEMA_VERSION_KEY, FRAME_METADATA_KEY}


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [V1.canonical_run(r) for r in build_account(seed=0, runs=2000).runs]


@pytest.fixture(scope="module")
def runs(records: list[dict]) -> pd.DataFrame:
    """2000 sandbox runs plus two failed fetches (every API column NA, fetch_error set)."""
    failed = [
        {"slug": slug, "fetch_error": "70001 Run record does not exist"} for slug in FAILED_SLUGS
    ]
    return records_to_frame([*records, *failed], fetched_at=FETCHED)


def results_frame() -> pd.DataFrame:
    """A results frame as fetch_results builds them: run_slug, then inferred free-form columns."""
    return pd.DataFrame(
        {
            "run_slug": pd.array(["01A", "01A", "01B", None, "01C"], dtype=ARROW_STRING),
            "title": pd.array(["a", None, "c", "d", "é ü"], dtype=ARROW_STRING),
            "author.name": pd.array([None, None, "x", "y", "z"], dtype=ARROW_STRING),
            "rank": pd.array([1, None, 3, -(2**62), 5], dtype="Int64"),
            "score": pd.array([0.5, None, 1.25, 2.0, -0.0], dtype="Float64"),
            "in_stock": pd.array([True, None, False, True, False], dtype="boolean"),
            "tags": pd.array(
                [["a", "b"], [], None, ["c"], ["d"]], dtype=pd.ArrowDtype(pa.list_(pa.string()))
            ),
            "seller": pd.array(
                [{"id": 1, "name": "s"}, None, {"id": 2, "name": None}, None, None],
                dtype=pd.ArrowDtype(pa.struct([("id", pa.int64()), ("name", pa.string())])),
            ),
            "posted": pd.array(
                [pd.Timestamp(1773305309, unit="s", tz="UTC"), None, None, None, None],
                dtype=pd.ArrowDtype(pa.timestamp("s", tz="UTC")),
            ),
            "price": pd.array(
                [Decimal("19.99"), None, Decimal("0.000000001"), None, None],
                dtype=pd.ArrowDtype(pa.decimal128(20, 10)),
            ),
            "label": pd.array(["p", None, "q", "r", "s"], dtype="str"),
            "note": pd.array(["p", None, "q", "r", "s"], dtype=pd.StringDtype("python")),
            "grade": pd.Categorical(["b", None, "a", "b", "b"], categories=["c", "b", "a"]),
            "size": pd.Categorical([2, 1, None, 1, 1], categories=[3, 2, 1], ordered=True),
            "count": np.array([1, 2, 3, 4, 5], dtype=np.int64),
            "ratio": np.array([0.1, np.nan, 0.3, 0.4, 0.5]),
            "flag": np.array([True, False, True, True, False]),
            "seen": pd.Series(pd.to_datetime([0, None, 2, 3, 4], unit="s", utc=True)).astype(
                "datetime64[ms, UTC]"
            ),
            "wait": pd.Series(pd.to_timedelta([1, None, 3, 4, 5], unit="s")),
            "empty": pd.array([None] * 5, dtype="Int64"),
        }
    )


def files_in(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def sorted_by(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The documented row order of a dataset: by partition, then for runs by the month they
    started in (UTC; runs not started last), as written within each."""
    if "started_at" not in df.columns or "slug" not in df.columns:  # a results frame
        return df.sort_values(columns, kind="stable", ignore_index=True)
    month = df["started_at"].dt.strftime("%Y-%m").fillna("unstarted")
    keyed = df.assign(**{MONTH_KEY: month})
    ordered = keyed.sort_values([*columns, MONTH_KEY], kind="stable", ignore_index=True)
    return ordered.drop(columns=MONTH_KEY)


def layout_of(file: Path) -> dict:
    return json.loads(pq.read_schema(file).metadata[FRAME_METADATA_KEY])


# --- run frames ------------------------------------------------------------------------------


def test_run_frame_round_trips_exactly(records: list[dict], runs: pd.DataFrame, tmp_path: Path):
    path = to_parquet(runs, tmp_path / "runs.parquet")
    assert path == tmp_path / "runs.parquet" and path.is_file()
    back = read_parquet(path)
    pd.testing.assert_frame_equal(back, runs)
    for name, dtype in RUN_DTYPES.items():
        assert back[name].dtype == dtype, name
    assert list(back["status"].cat.categories) == list(STATUS_LABELS)
    assert back["status"].cat.ordered
    assert back["usage"].sum() == sum(Decimal(r["usage"]) for r in records)
    assert isinstance(back.loc[0, "usage"], Decimal)


def test_public_api_is_exported_at_the_top_level():
    assert ccf.to_parquet is to_parquet and ccf.read_parquet is read_parquet


def test_str_path_and_user_home_are_accepted(runs: pd.DataFrame, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = to_parquet(runs.head(3), "~/runs.parquet")
    assert path == tmp_path / "runs.parquet"
    pd.testing.assert_frame_equal(read_parquet(str(tmp_path / "runs.parquet")), runs.head(3))


def test_failed_fetches_and_all_na_columns_round_trip(runs: pd.DataFrame, tmp_path: Path):
    failed = runs[runs["fetch_error"].notna()].reset_index(drop=True)
    assert len(failed) == 2 and failed["usage"].isna().all() and failed["status"].isna().all()
    for path, partitions in ((tmp_path / "failed.parquet", None), (tmp_path / "ds", ["origin"])):
        back = read_parquet(to_parquet(failed, path, partition_cols=partitions))
        pd.testing.assert_frame_equal(back, failed)
        assert back.drop(columns=["slug", "fetched_at", "fetch_error"]).isna().all().all()


@pytest.mark.parametrize("partition_cols", [None, ["scraper_slug"]])
def test_empty_run_frame_round_trips(tmp_path: Path, partition_cols):
    empty = empty_run_frame()
    back = read_parquet(to_parquet(empty, tmp_path / "empty", partition_cols=partition_cols))
    pd.testing.assert_frame_equal(back, empty)
    assert back.dtypes.to_dict() == empty.dtypes.to_dict()


def test_user_added_columns_keep_their_dtype(runs: pd.DataFrame, tmp_path: Path):
    df = runs.assign(
        cost_cents=pd.array(range(len(runs)), dtype="Int64"),
        team=pd.Categorical(["a", "b"] * (len(runs) // 2), categories=["b", "a", "unused"]),
    )
    df.insert(0, "month", df["started_at"].dt.strftime("%Y-%m"))
    back = read_parquet(to_parquet(df, tmp_path / "runs.parquet"))
    pd.testing.assert_frame_equal(back, df)
    assert list(back.columns) == list(df.columns)
    assert list(back["team"].cat.categories) == ["b", "a", "unused"]


# --- partitioned datasets --------------------------------------------------------------------


def test_partitioned_by_scraper_slug_round_trips(runs: pd.DataFrame, tmp_path: Path):
    path = to_parquet(runs, tmp_path / "runs", partition_cols=["scraper_slug"])
    workers = set(runs["scraper_slug"].dropna())
    directories = {p.name for p in path.iterdir()}
    assert directories == {f"scraper_slug={w}" for w in workers} | {
        "scraper_slug=__HIVE_DEFAULT_PARTITION__"  # the failed fetches have no worker
    }
    for directory in directories:  # one file per month the worker's runs started in
        files = [f.name for f in (path / directory).iterdir()]
        assert files and all(MONTH_FILE.fullmatch(name) for name in files), files
    assert (path / "scraper_slug=__HIVE_DEFAULT_PARTITION__" / "part-unstarted.parquet").is_file()
    back = read_parquet(path)
    pd.testing.assert_frame_equal(back, sorted_by(runs, ["scraper_slug"]))
    assert list(back.columns) == [c.name for c in RUN_COLUMNS]
    assert back["scraper_slug"].dtype == ARROW_STRING
    # The data files hold no partition column: hive directory names carry it.
    file = next(path.rglob("*.parquet"))
    assert "scraper_slug" not in pq.read_schema(file).names


def test_partitioned_by_user_month_and_status(runs: pd.DataFrame, tmp_path: Path):
    df = runs.assign(month=runs["started_at"].dt.strftime("%Y-%m"))
    assert df["month"].isna().any()  # unstarted runs: a null partition
    path = to_parquet(df, tmp_path / "runs", partition_cols=["month", "status"])
    assert (path / "month=2026-03" / "status=succeeded" / "part-2026-03.parquet").is_file()
    back = read_parquet(path)
    pd.testing.assert_frame_equal(back, sorted_by(df, ["month", "status"]))
    assert back["month"].dtype == df["month"].dtype  # pandas' default str dtype, NaN for NA
    assert back["status"].dtype == RUN_DTYPES["status"]
    assert list(back.columns) == list(df.columns)


def test_partitioned_by_integer_column_of_a_results_frame(tmp_path: Path):
    df = results_frame()
    back = read_parquet(to_parquet(df, tmp_path / "results", partition_cols=["rank", "flag"]))
    assert back["rank"].dtype == "Int64" and back["flag"].dtype == bool
    pd.testing.assert_frame_equal(back, sorted_by(df, ["rank", "flag"]))
    assert list(back["rank"])[:2] == [-(2**62), 1] and back["rank"].isna().sum() == 1


def test_refuses_a_partition_value_too_long_for_a_directory_name(
    runs: pd.DataFrame, tmp_path: Path
):
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    prefix = "scraper_title="
    df = runs.head(10).copy()
    df.loc[3, "scraper_title"] = "x" * (limit - len(prefix))  # exactly the longest name
    target = tmp_path / "runs"
    to_parquet(df, target, partition_cols=["scraper_title"])
    assert (target / (prefix + df.loc[3, "scraper_title"])).is_dir()

    df.loc[3, "scraper_title"] = "x" * (limit - len(prefix) + 1)
    df.loc[5, "scraper_title"] = "Résumé " * 30  # 210 characters, 570 bytes URL-encoded
    before = files_in(tmp_path)
    with pytest.raises(ValueError) as caught:
        to_parquet(df, target, partition_cols=["scraper_title"], mode="merge")
    message = str(caught.value)
    assert "'scraper_title'" in message and "210 characters" in message
    assert "Résumé" in message and "Résumé " * 5 not in message  # the value, truncated
    assert f"{len(prefix) + 570} bytes" in message and f"{limit}" in message
    assert "'scraper_slug' instead of 'scraper_title'" in message
    assert len(message) < 500
    assert files_in(tmp_path) == before  # nothing written


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (["Jobs\x00EU", "Jobs\x00US"], "holds a NUL character"),
        (["\x00"], "holds a NUL character"),
        (["__HIVE_DEFAULT_PARTITION__"], "directory name of a missing value"),
        ([""], "is empty"),
    ],
    ids=["nul", "only nul", "hive null", "empty"],
)
@pytest.mark.parametrize("dtype", ["run frame's", "category"])
def test_refuses_a_partition_value_that_would_come_back_as_another(
    runs: pd.DataFrame, tmp_path: Path, values: list[str], fragment: str, dtype: str
):
    df = runs.head(10).copy()
    column = "scraper_title" if dtype == "run frame's" else "team"
    titles = [*values, *df["scraper_title"][len(values) :]]
    df[column] = pd.Series(titles, dtype=df["scraper_title"].dtype if column != "team" else dtype)
    with pytest.raises(ValueError, match=f"cannot partition by '{column}': its value .*{fragment}"):
        to_parquet(df, tmp_path / "runs", partition_cols=[column])
    assert files_in(tmp_path) == []


def test_missing_values_and_unusual_text_come_back_exactly(runs: pd.DataFrame, tmp_path: Path):
    values = [None, "null", "a/b", "a%2Fb", "a=b", ".", "..", " lead", "é", "x" * 100, "~", "\t"]
    df = runs.head(len(values)).assign(
        scraper_title=pd.Series(values, dtype=runs["scraper_title"].dtype)
    )
    back = read_parquet(to_parquet(df, tmp_path / "runs", partition_cols=["scraper_title"]))
    assert sorted(back["scraper_title"].fillna("<NA>")) == sorted(
        df["scraper_title"].fillna("<NA>")
    )


@given(
    st.lists(st.text(st.characters(exclude_categories=["Cs"]), max_size=20), min_size=1, max_size=4)
)
@settings(max_examples=60, deadline=None)
def test_any_partition_value_to_parquet_accepts_reads_back_exactly(values: list[str]):
    df = records_to_frame([{**COMPLETE_RECORD, "slug": f"RUN{i}"} for i in range(len(values))])
    df["scraper_title"] = pd.Series(values, dtype=df["scraper_title"].dtype)
    with tempfile.TemporaryDirectory() as directory:
        try:
            path = to_parquet(df, Path(directory) / "runs", partition_cols=["scraper_title"])
        except ValueError:
            return  # refused before writing: nothing to read back
        back = read_parquet(path)
    assert sorted(back["scraper_title"]) == sorted(values)


def test_a_partition_file_alone_is_refused(runs: pd.DataFrame, tmp_path: Path):
    path = to_parquet(runs, tmp_path / "runs", partition_cols=["scraper_slug"])
    with pytest.raises(ParquetFormatError, match="read the dataset directory"):
        read_parquet(next(path.rglob("*.parquet")))


# --- metadata --------------------------------------------------------------------------------


@pytest.mark.parametrize("partition_cols", [None, ["scraper_slug"]])
def test_metadata_holds_schema_version_and_descriptions_only(
    runs: pd.DataFrame, tmp_path: Path, partition_cols
):
    assert run_arrow_schema().metadata[SCHEMA_VERSION_KEY] == str(SCHEMA_VERSION).encode()
    path = to_parquet(runs, tmp_path / "runs.parquet", partition_cols=partition_cols)
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    for file in files:
        metadata = pq.read_metadata(file).metadata
        assert set(metadata) == EXPECTED_METADATA_KEYS
        assert metadata[SCHEMA_VERSION_KEY] == str(SCHEMA_VERSION).encode()
        layout = layout_of(file)
        assert layout["kind"] == "runs"
        assert layout["partition_cols"] == (partition_cols or [])
        descriptions = {c["name"]: c["description"] for c in layout["columns"]}
        assert descriptions == {c.name: c.description for c in RUN_COLUMNS}
        schema = pq.read_schema(file)
        for column in RUN_COLUMNS:
            if column.name in schema.names:
                field_meta = schema.field(column.name).metadata
                assert field_meta == {b"description": column.description.encode()}


def test_newer_schema_version_is_refused(runs: pd.DataFrame, tmp_path: Path):
    path = to_parquet(runs.head(5), tmp_path / "runs.parquet")
    table = pq.read_table(path)
    newer = {**table.schema.metadata, SCHEMA_VERSION_KEY: str(SCHEMA_VERSION + 1).encode()}
    pq.write_table(table.replace_schema_metadata(newer), path)
    before = path.read_bytes()
    with pytest.raises(ParquetFormatError, match=rf"version {SCHEMA_VERSION + 1}.*upgrade"):
        read_parquet(path)
    with pytest.raises(ParquetFormatError, match="upgrade"):
        to_parquet(runs.head(5), path, mode="merge")
    assert path.read_bytes() == before


# --- merging ---------------------------------------------------------------------------------


def newer_fetch(records: list[dict], slugs: list[str], *, at: pd.Timestamp) -> pd.DataFrame:
    """A later fetch of ``slugs``: every run now succeeded, with results 99."""
    by_slug = {r["slug"]: r for r in records}
    changed = [
        {
            **by_slug[s],
            "status": "succeeded",
            "results": 99,
            "usage": "1.5",
            "started_at": 1773300000,
            "finished_at": 1773300100,
            "duration": 100,
        }
        for s in slugs
    ]
    return records_to_frame(changed, fetched_at=at)


@pytest.mark.parametrize("partition_cols", [None, ["scraper_slug"], ["month"]])
def test_merge_keeps_the_newest_fetch_of_each_run(
    records: list[dict], tmp_path: Path, partition_cols
):
    old = records_to_frame(records[:1000], fetched_at=FETCHED)
    refreshed = [r["slug"] for r in records[:50]]  # include the unstarted runs (month NaT)
    new_slugs = [r["slug"] for r in records[1000:1100]]
    new = pd.concat(
        [
            newer_fetch(records, refreshed, at=LATER),
            records_to_frame(records[1000:1100], fetched_at=LATER),
        ],
        ignore_index=True,
    )
    if partition_cols == ["month"]:
        old["month"] = old["started_at"].dt.strftime("%Y-%m")
        new["month"] = new["started_at"].dt.strftime("%Y-%m")
    path = tmp_path / "runs"
    to_parquet(old, path, partition_cols=partition_cols)
    to_parquet(new, path, partition_cols=partition_cols, mode="merge")
    merged = read_parquet(path)

    assert merged["slug"].is_unique and len(merged) == 1100
    by_slug = merged.set_index("slug")
    assert (by_slug.loc[refreshed, "results"] == 99).all()
    assert (by_slug.loc[refreshed, "fetched_at"] == LATER).all()
    assert (by_slug.loc[new_slugs, "fetched_at"] == LATER).all()
    untouched = old[~old["slug"].isin(refreshed)].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        merged[merged["slug"].isin(untouched["slug"])].reset_index(drop=True),
        sorted_by(untouched, partition_cols) if partition_cols else untouched,
    )
    if partition_cols is None:  # first-seen order: the old runs, then the new ones
        assert list(merged["slug"]) == [r["slug"] for r in records[:1100]]
    if partition_cols == ["month"]:  # refreshed runs moved out of the null partition
        assert merged.loc[merged["slug"].isin(refreshed), "month"].eq("2026-03").all()
    # Merging the older fetch back in changes nothing: the newest row wins, not the last one.
    to_parquet(old, path, partition_cols=partition_cols, mode="merge")
    pd.testing.assert_frame_equal(read_parquet(path), merged)


def test_merge_on_a_tie_keeps_the_frame_being_written(records: list[dict], tmp_path: Path):
    path = to_parquet(records_to_frame(records[:3], fetched_at=FETCHED), tmp_path / "r.parquet")
    same_time = newer_fetch(records, [records[0]["slug"]], at=FETCHED)
    to_parquet(same_time, path, mode="merge")
    merged = read_parquet(path)
    assert len(merged) == 3 and merged.loc[0, "results"] == 99


@pytest.mark.parametrize("partition_cols", [None, ["scraper_slug"]])
def test_merge_keeps_a_status_no_version_documents(
    records: list[dict], tmp_path: Path, partition_cols
):
    stored = records_to_frame(records[:3], fetched_at=FETCHED)
    path = to_parquet(stored, tmp_path / "runs", partition_cols=partition_cols)
    paused = records_to_frame([{**records[0], "status": "paused"}], fetched_at=LATER)
    assert list(paused["status"].cat.categories)[-1] == "paused"
    to_parquet(paused, path, mode="merge")  # the stored files know no "paused"
    merged = read_parquet(path).set_index("slug")
    assert merged.loc[records[0]["slug"], "status"] == "paused"
    assert merged["status"].dtype == paused["status"].dtype and len(merged) == 3


def failed_fetch(
    slugs: list[str], *, at: pd.Timestamp, reason: str = "HTTP 503 after 6 attempts"
) -> pd.DataFrame:
    """Rows of runs whose fetch failed: only slug, fetched_at and fetch_error."""
    return records_to_frame([{"slug": s, "fetch_error": reason} for s in slugs], fetched_at=at)


@pytest.mark.parametrize("partition_cols", [None, ["scraper_slug"]])
def test_merge_of_a_partly_failed_refetch_keeps_the_stored_runs(
    records: list[dict], tmp_path: Path, partition_cols
):
    stored = records_to_frame(records[:20], fetched_at=FETCHED)
    path = to_parquet(stored, tmp_path / "runs", partition_cols=partition_cols)
    slugs = list(stored["slug"])
    refetched, failed = slugs[:5], slugs[5:10]
    batch = pd.concat(
        [newer_fetch(records, refetched, at=LATER), failed_fetch(failed, at=LATER)],
        ignore_index=True,
    )
    frame = ccf.BatchFetchError(batch).frame  # the README's recovery path
    to_parquet(frame, path, partition_cols=partition_cols, mode="merge")
    merged = read_parquet(path).set_index("slug")

    assert sorted(merged.index) == sorted(slugs)
    assert (merged.loc[refetched, "results"] == 99).all()
    assert merged["fetch_error"].isna().all()
    kept = slugs[5:]
    pd.testing.assert_frame_equal(merged.loc[kept], stored.set_index("slug").loc[kept])
    assert merged["usage"].sum() == stored.set_index("slug").loc[kept, "usage"].sum() + 5 * Decimal(
        "1.5"
    )


def test_merge_a_good_row_replaces_a_failed_or_flagged_one_whatever_its_age(
    records: list[dict], tmp_path: Path
):
    slugs = [r["slug"] for r in records[:4]]
    path = to_parquet(failed_fetch(slugs, at=LATER), tmp_path / "r.parquet")
    good = records_to_frame(records[:4], fetched_at=FETCHED)  # older, but fetched
    pd.testing.assert_frame_equal(read_parquet(to_parquet(good, path, mode="merge")), good)
    # A newer row flagged as malformed (fetch_error set, some data) does not replace it either.
    flagged = records_to_frame([{**records[0], "results": "many"}], fetched_at=LATER)
    assert flagged.loc[0, "fetch_error"].startswith("malformed record")
    pd.testing.assert_frame_equal(read_parquet(to_parquet(flagged, path, mode="merge")), good)
    # Between two failed rows, the newer one wins.
    failed_again = failed_fetch(slugs[:1], at=LATER, reason="HTTP 404")
    to_parquet(failed_fetch(slugs[:1], at=FETCHED), tmp_path / "f.parquet")
    merged = read_parquet(to_parquet(failed_again, tmp_path / "f.parquet", mode="merge"))
    assert merged["fetch_error"].tolist() == ["HTTP 404"]


def test_merge_into_an_empty_directory_writes_the_dataset(runs: pd.DataFrame, tmp_path: Path):
    (tmp_path / "runs").mkdir()
    path = to_parquet(runs, tmp_path / "runs", partition_cols=["origin"], mode="merge")
    pd.testing.assert_frame_equal(read_parquet(path), sorted_by(runs, ["origin"]))


def test_merge_into_a_missing_path_dedups_the_frame(records: list[dict], tmp_path: Path):
    first = records_to_frame(records[:10], fetched_at=FETCHED)
    second = newer_fetch(records, [r["slug"] for r in records[:5]], at=LATER)
    both = pd.concat([second, first], ignore_index=True)
    merged = read_parquet(to_parquet(both, tmp_path / "r.parquet", mode="merge"))
    assert merged["slug"].is_unique and len(merged) == 10
    assert (merged.head(5)["results"] == 99).all()


#: A run record with every required field: a good row (no fetch_error) once built.
COMPLETE_RECORD = {
    "status": "succeeded",
    "scraper_slug": "01K2R2T400R84P57VFQVC2R1YD",
    "usage": "0.5",
    "results": 0,
    "traffic": 0,
    "started_at": 0,
    "finished_at": 0,
    "duration": 0,
}


@pytest.mark.parametrize("partition_cols", [None, ["scraper_slug"]])
def test_merge_a_failed_refresh_never_blanks_a_flagged_row(
    records: list[dict], tmp_path: Path, partition_cols
):
    # Stored: a run flagged for one bad value, its cost kept. Refreshed: HTTP 503, no data.
    flagged = records_to_frame([{**records[0], "traffic": "lots"}], fetched_at=FETCHED)
    assert flagged.loc[0, "fetch_error"].startswith("malformed record")
    assert flagged.loc[0, "usage"] == Decimal(records[0]["usage"])
    path = to_parquet(flagged, tmp_path / "runs", partition_cols=partition_cols)
    refresh = failed_fetch([records[0]["slug"]], at=LATER)
    merged = read_parquet(to_parquet(refresh, path, partition_cols=partition_cols, mode="merge"))
    pd.testing.assert_frame_equal(merged, flagged)


#: Rows of a merge property example: (slug index, hours after FETCHED, kind of row: 0 a failed
#: fetch, 1 a flagged one with data, 2 a clean one).
merge_rows = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 3), st.integers(0, 2)), max_size=20
)


@given(merge_rows, merge_rows)
@settings(max_examples=50, deadline=None)
def test_merge_property_one_row_per_run_best_kind_first_then_the_newest(old_rows, new_rows):
    slugs = [f"01KSFDS8XWTJME33C08XMCR6B{i}" for i in range(7)]

    def record(slug: str, kind: int, tag: str) -> dict:
        if kind == 0:
            return {"slug": slug, "fetch_error": f"HTTP 503 ({tag})"}
        flagged = {"traffic": "lots"} if kind == 1 else {}
        return {**COMPLETE_RECORD, "slug": slug, "usage": tag, **flagged}

    def frame(rows: list[tuple[int, int, int]], tag: int) -> pd.DataFrame:
        # Each row is told apart by its usage (rows with data) or its fetch_error (failed rows).
        records = [record(slugs[s], kind, f"{tag}.{i}") for i, (s, _, kind) in enumerate(rows)]
        df = records_to_frame(records, fetched_at=FETCHED)
        return df.assign(fetched_at=[FETCHED + pd.Timedelta(hours=h) for _, h, _ in rows]).astype(
            {"fetched_at": RUN_DTYPES["fetched_at"]}
        )

    def kind(row: pd.Series) -> int:
        return 0 if pd.isna(row["status"]) else 1 if pd.notna(row["fetch_error"]) else 2

    def marker(row: pd.Series) -> tuple:
        return (row["fetched_at"], str(row["usage"]), str(row["fetch_error"]))

    old, new = frame(old_rows, 1), frame(new_rows, 2)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "r.parquet"
        to_parquet(old, path)
        merged = read_parquet(to_parquet(new, path, mode="merge"))
    both = pd.concat([old, new], ignore_index=True)
    assert sorted(merged["slug"]) == sorted(set(both["slug"]))
    for slug, row in merged.set_index("slug").iterrows():
        candidates = both[both["slug"] == slug]
        kinds = candidates.apply(kind, axis=1)
        pool = candidates[kinds == kinds.max()]  # a worse kind never replaces a better one
        newest = pool[pool["fetched_at"] == pool["fetched_at"].max()]
        assert marker(row) == marker(newest.iloc[-1])  # ties: the later row


def test_merge_results_replaces_each_runs_rows(tmp_path: Path):
    df = results_frame()
    path = to_parquet(df, tmp_path / "results.parquet")
    again = pd.DataFrame(
        {
            "run_slug": pd.array(["01B", "01D"], dtype=ARROW_STRING),
            "title": pd.array(["b2", "d2"], dtype=ARROW_STRING),
            "views": np.array([7, 8]),  # a column the first fetch did not have
        }
    )
    merged = read_parquet(to_parquet(again, path, mode="merge"))
    assert list(merged["run_slug"]) == ["01A", "01A", pd.NA, "01C", "01B", "01D"]
    assert list(merged.columns) == [*df.columns, "views"]
    assert merged["views"].dtype == "Int64"  # NA for the old rows: int64 became nullable
    assert merged["views"].tolist()[-2:] == [7, 8] and merged["views"].isna().sum() == 4
    assert merged["rank"].dtype == "Int64" and merged["rank"].isna().sum() == 3


def test_merge_results_keeps_a_runs_stored_rows_when_its_refetch_failed(tmp_path: Path):
    stored = build_results_frame(
        [
            ("01A", (["title"], [{"title": "a1"}, {"title": "a2"}])),
            ("01B", "HTTP 503 after 6 attempts"),
            ("01C", (["title"], [{"title": "c1"}])),
        ]
    )
    path = to_parquet(stored, tmp_path / "results.parquet")
    refetch = build_results_frame(
        [
            ("01A", "HTTP 503 after 6 attempts"),  # only a failed row: the stored rows stay
            ("01B", (["title"], [{"title": "b1"}])),  # good rows replace the failed row
            ("01C", (["title"], [{"title": "c2"}, {"title": "c3"}])),
            ("01D", "70001 Run record does not exist"),  # nothing stored: kept, nothing lost
        ]
    )
    merged = read_parquet(to_parquet(refetch, path, mode="merge"))
    assert merged["run_slug"].tolist() == ["01A", "01A", "01B", "01C", "01C", "01D"]
    assert merged["title"].tolist()[:5] == ["a1", "a2", "b1", "c2", "c3"]
    assert merged["fetch_error"].notna().tolist() == [False] * 5 + [True]


def test_merge_refuses_a_different_frame_and_leaves_the_file(runs: pd.DataFrame, tmp_path: Path):
    path = to_parquet(runs, tmp_path / "runs.parquet")
    before = path.read_bytes()
    with pytest.raises(ParquetFormatError, match=r"results frame into .* runs frame"):
        to_parquet(results_frame(), path, mode="merge")
    with pytest.raises(ParquetFormatError, match="only in df: \\['extra'\\]"):
        to_parquet(runs.assign(extra=1), path, mode="merge")
    with pytest.raises(ValueError, match="is a file, but partition_cols"):
        to_parquet(runs, path, partition_cols=["scraper_slug"], mode="merge")
    results = to_parquet(results_frame(), tmp_path / "results.parquet")
    with pytest.raises(ParquetFormatError, match="rank: Int64 there, Float64 in df"):
        to_parquet(results_frame().astype({"rank": "Float64"}), results, mode="merge")
    assert path.read_bytes() == before


def test_merge_refuses_another_partitioning(runs: pd.DataFrame, tmp_path: Path):
    path = to_parquet(runs, tmp_path / "runs", partition_cols=["scraper_slug"])
    before = files_in(path)
    with pytest.raises(ParquetFormatError, match="partitioned by \\['scraper_slug'\\], not"):
        to_parquet(runs, path, partition_cols=["origin"], mode="merge")
    assert files_in(path) == before


# --- atomic writes ---------------------------------------------------------------------------


def test_a_crash_while_writing_a_file_leaves_the_old_one(
    runs: pd.DataFrame, tmp_path: Path, monkeypatch
):
    path = to_parquet(runs.head(10), tmp_path / "runs.parquet")
    before = path.read_bytes()
    real_write = pq.write_table

    def crash(table, where, **kwargs):
        real_write(table.slice(0, 1), where, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(parquet_files.pq, "write_table", crash)
    for mode in ("overwrite", "merge"):
        with pytest.raises(KeyboardInterrupt):
            to_parquet(runs, path, mode=mode)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [path.name]


def test_a_crash_while_writing_a_dataset_leaves_the_old_one(
    runs: pd.DataFrame, tmp_path: Path, monkeypatch
):
    path = to_parquet(runs.head(10), tmp_path / "runs", partition_cols=["scraper_slug"])
    before = {f: f.read_bytes() for f in path.rglob("*.parquet")}
    real_write = versions.write_data_file
    written = []

    def crash(table, where):
        if written:
            real_write(table.slice(0, 3), where)
            raise OSError("disk full")
        written.append(where)
        real_write(table, where)

    monkeypatch.setattr(versions, "write_data_file", crash)
    with pytest.raises(OSError, match="disk full"):
        to_parquet(runs, path, partition_cols=["scraper_slug"], mode="merge")
    assert {f: f.read_bytes() for f in path.rglob("*.parquet")} == before
    assert {p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")} == {"runs"}
    pd.testing.assert_frame_equal(read_parquet(path), sorted_by(runs.head(10), ["scraper_slug"]))


@pytest.mark.parametrize("can_exchange", [True, False], ids=["exchange", "two-renames"])
def test_writes_go_through_a_temporary_sibling(
    runs: pd.DataFrame, tmp_path: Path, monkeypatch, can_exchange: bool
):
    moves: list[tuple[str, str, str]] = []
    real_replace, real_rename, real_exchange = os.replace, os.rename, parquet_files.exchange

    def record(real):
        def move(source, target):
            moves.append(("move", str(source), str(target)))
            return real(source, target)

        return move

    def swap(first, second):
        if can_exchange and real_exchange(first, second):
            moves.append(("swap", str(first), str(second)))
            return True
        return False

    monkeypatch.setattr(parquet_files.os, "replace", record(real_replace))
    monkeypatch.setattr(parquet_files.os, "rename", record(real_rename))
    monkeypatch.setattr(parquet_files, "exchange", swap)
    to_parquet(runs.head(3), tmp_path / "runs.parquet")
    to_parquet(runs.head(3), tmp_path / "ds", partition_cols=["origin"])
    to_parquet(runs.head(4), tmp_path / "ds", partition_cols=["origin"])
    assert all(Path(p).parent == tmp_path for _, *paths in moves for p in paths)
    names = [(kind, Path(source).name, Path(target).name) for kind, source, target in moves]
    patterns = [
        ("move", r"\.runs\.parquet\.\w+\.tmp", "runs.parquet"),  # file: temporary, replace
        ("move", r"\.ds\.\w+\.tmp", "ds"),  # new dataset: temporary directory, then rename
    ]
    if can_exchange:  # existing dataset: swapped with the new one in one step
        patterns.append(("swap", r"\.ds\.\w+\.tmp", "ds"))
    else:  # existing dataset: set aside, the new one renamed into place, the old one removed
        patterns += [("move", "ds", r"\.ds\.\w+\.old"), ("move", r"\.ds\.\w+\.tmp", "ds")]
    assert len(names) == len(patterns), names
    for (kind, source, target), (want, source_pattern, target_pattern) in zip(
        names, patterns, strict=True
    ):
        assert kind == want
        assert re.fullmatch(source_pattern, source) and re.fullmatch(target_pattern, target)
    assert len(read_parquet(tmp_path / "ds")) == 4
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "ds",
        "runs.parquet",
    ]


def test_the_directory_exchange_swaps_or_changes_nothing(tmp_path: Path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    (first / "one").write_text("1")
    second.mkdir()
    (second / "two").write_text("2")
    if not parquet_files.exchange(first, second):
        assert (first / "one").exists() and (second / "two").exists()
        pytest.skip("this system cannot exchange two directories in one step")
    assert (first / "two").exists() and (second / "one").exists()
    with pytest.raises(FileNotFoundError):
        parquet_files.exchange(first, tmp_path / "missing")


BACKUP_ID = "0123456789abcdef0123456789abcdef"


def test_an_interrupted_directory_swap_is_read_then_put_back(runs: pd.DataFrame, tmp_path: Path):
    path = to_parquet(runs.head(3), tmp_path / "runs", partition_cols=["origin"])
    expected = read_parquet(path)
    backup = tmp_path / f".runs.{BACKUP_ID}.old"
    path.rename(backup)  # as if the process died between the two renames
    pd.testing.assert_frame_equal(read_parquet(path), expected)  # the previous data, whole
    assert backup.exists() and not path.exists()  # a read changes nothing
    to_parquet(runs.iloc[3:5], path, partition_cols=["origin"], mode="merge")
    assert not backup.exists()
    assert sorted(read_parquet(path)["slug"]) == sorted(runs["slug"].head(5))


def test_two_set_aside_datasets_are_left_for_the_user(runs: pd.DataFrame, tmp_path: Path):
    path = to_parquet(runs.head(3), tmp_path / "runs", partition_cols=["origin"])
    shutil.copytree(path, tmp_path / f".runs.{'1' * 32}.old")
    path.rename(tmp_path / f".runs.{'2' * 32}.old")
    with pytest.raises(FileNotFoundError, match="rename it back"):
        to_parquet(runs.head(3), path, partition_cols=["origin"], mode="merge")
    with pytest.raises(FileNotFoundError, match=r"previous data at .*\.runs\.1{32}\.old"):
        read_parquet(path)
    assert not path.exists()


def test_a_write_removes_what_a_killed_writer_left(runs: pd.DataFrame, tmp_path: Path):
    path = to_parquet(runs.head(3), tmp_path / "runs", partition_cols=["origin"])
    shutil.copytree(path, tmp_path / f".runs.{'1' * 32}.old")  # killed after the swap
    (tmp_path / f".runs.{'2' * 32}.tmp").mkdir()  # killed while writing
    (tmp_path / f".runs.{'3' * 32}.tmp").write_bytes(b"PAR1")
    kept = tmp_path / ".runs.sync.json"  # not the writer's: stays
    kept.write_text("{}")
    to_parquet(runs.head(4), path, partition_cols=["origin"], mode="merge")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".runs.lock", ".runs.sync.json", "runs"]
    assert len(read_parquet(path)) == 4


# --- reading while another process writes ---------------------------------------------------

#: Rewrites a dataset until STOP exists, alternating FIRST (overwrite) and SECOND (merge), and
#: counts the rewrites in COUNT, pausing PAUSE seconds after each: readers waiting for the lock
#: need the pause to get in; readers without the lock race writes back to back.
REWRITE_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import coreclaw_frames as ccf
    from coreclaw_frames.parquet import _files as files

    dataset, first, second, stop, count = map(Path, sys.argv[1:6])
    pause = float(sys.argv[7])
    if sys.argv[6] == "two-renames":
        files.exchange = lambda first, second: False
    frames = [ccf.read_parquet(first), ccf.read_parquet(second)]

    def counted(rewrites):
        count.with_suffix(".tmp").write_text(str(rewrites))
        os.replace(count.with_suffix(".tmp"), count)

    rewrites = 0
    counted(rewrites)  # started: the reads that count are those from now on
    while not stop.exists():
        mode = "merge" if rewrites % 2 else "overwrite"
        ccf.to_parquet(frames[rewrites % 2], dataset, partition_cols=["scraper_slug"], mode=mode)
        rewrites += 1
        counted(rewrites)
        time.sleep(pause)
    """
)
#: Reads the test checks, and rewrites that must have happened meanwhile.
CONCURRENT_READS = 50
CONCURRENT_REWRITES = 10


class LockNotOpenable:
    """``FileLock`` as a process sees it that may not open the lock file."""

    def __init__(self, path: str | os.PathLike[str], *args, **kwargs) -> None:
        self.path = path

    def acquire(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self.path))


def equals_one_of(frame: pd.DataFrame, *candidates: pd.DataFrame) -> bool:
    for candidate in candidates:
        try:
            pd.testing.assert_frame_equal(frame, candidate)
        except AssertionError:
            continue
        return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("swap", ["exchange", "two-renames"])
@pytest.mark.parametrize("lock", ["lock", "no lock"])
def test_reads_see_one_complete_write_while_another_process_rewrites(
    records: list[dict], tmp_path: Path, monkeypatch, lock, swap
):
    first = records_to_frame(records[:300], fetched_at=FETCHED)
    # The second content moves half the runs to other workers: other partition directories.
    moved = [{**r, "scraper_slug": f"moved-{i % 3}"} if i % 2 else r for i, r in enumerate(records)]
    second = newer_fetch(moved, list(first["slug"]), at=LATER)
    sources = [
        to_parquet(df, tmp_path / f"{name}.parquet") for name, df in [("a", first), ("b", second)]
    ]
    path = tmp_path / "runs"
    contents = [
        read_parquet(to_parquet(first, path, partition_cols=["scraper_slug"])),
        read_parquet(to_parquet(second, path, partition_cols=["scraper_slug"], mode="merge")),
    ]
    assert not equals_one_of(*contents)
    if lock == "no lock":
        monkeypatch.setattr(parquet_files, "FileLock", LockNotOpenable)
    stop, count = tmp_path / "stop", tmp_path / "count"
    pause = 0.1 if lock == "lock" else 0.0
    arguments = map(str, [path, *sources, stop, count, swap, pause])
    command = [sys.executable, "-c", REWRITE_SCRIPT, *arguments]
    writer = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        while not count.exists():  # the writer starting up: reads now would race nothing
            assert writer.poll() is None, writer.communicate()[1]
            time.sleep(0.01)
        reads = 0
        while reads < CONCURRENT_READS or int(count.read_text()) < CONCURRENT_REWRITES:
            assert writer.poll() is None, writer.communicate()[1]
            if not equals_one_of(read_parquet(path), *contents):
                pytest.fail(f"read {reads} is neither content: a mix of two writes")
            reads += 1
    finally:
        stop.touch()
        _, errors = writer.communicate(timeout=60)
    assert writer.returncode == 0, errors


def test_a_read_overtaken_by_every_write_gives_up_with_a_clear_error(
    runs: pd.DataFrame, tmp_path: Path, monkeypatch
):
    path = to_parquet(runs.head(10), tmp_path / "runs", partition_cols=["origin"])
    (tmp_path / ".runs.lock").unlink()  # no lock to wait for: reads check and start over
    real_read = parquet_files.read
    attempts = []

    def overtaken(target: Path):
        attempts.append(target)
        frame = real_read(target)
        to_parquet(runs.head(10), target, partition_cols=["origin"])  # a write meanwhile
        return frame

    monkeypatch.setattr(parquet_files, "read", overtaken)
    monkeypatch.setattr(parquet_files, "READ_RETRY_PAUSE", 0)
    with pytest.raises(TimeoutError, match=r"rewritten by another process during each of \d+"):
        read_parquet(path)
    assert len(attempts) == parquet_files.READ_ATTEMPTS


@pytest.mark.slow
def test_a_read_only_directory_reads_without_the_lock(runs: pd.DataFrame, tmp_path: Path):
    """Where the lock file is missing or closed to the reader, a read still works."""
    shared = tmp_path / "shared"
    shared.mkdir()
    to_parquet(runs, shared / "runs.parquet")
    to_parquet(runs, shared / "runs", partition_cols=["scraper_slug"])
    (shared / ".runs.parquet.lock").unlink()  # a reader would have to create it
    (shared / ".runs.lock").chmod(0o444)  # a reader may not open it to lock
    before = files_in(shared)
    script = textwrap.dedent(
        """
        import pickle, sys
        from pathlib import Path
        import coreclaw_frames as ccf

        shared = Path(sys.argv[1])
        try:
            (shared / "probe").touch()
        except PermissionError:
            pass
        else:
            sys.exit(f"{shared} is writable")
        frames = [ccf.read_parquet(shared / "runs.parquet"), ccf.read_parquet(shared / "runs")]
        sys.stdout.buffer.write(pickle.dumps(frames))
        """
    )
    command = [sys.executable, "-c", script, str(shared)]
    if os.geteuid() == 0:  # root writes anywhere unless it gives up that capability
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root, and setpriv is missing to drop CAP_DAC_OVERRIDE")
        command = [setpriv, "--bounding-set", "-dac_override", "--", *command]
    shared.chmod(0o555)
    try:
        done = subprocess.run(command, capture_output=True, check=False)
    finally:
        shared.chmod(0o755)
    assert done.returncode == 0, done.stderr.decode()
    file_frame, dataset_frame = pickle.loads(done.stdout)
    pd.testing.assert_frame_equal(file_frame, runs)
    pd.testing.assert_frame_equal(dataset_frame, sorted_by(runs, ["scraper_slug"]))
    assert files_in(shared) == before


# --- results frames --------------------------------------------------------------------------


@pytest.mark.parametrize("partition_cols", [None, ["grade"]])
def test_results_frame_round_trips(tmp_path: Path, partition_cols):
    df = results_frame()
    path = to_parquet(df, tmp_path / "results", partition_cols=partition_cols)
    back = read_parquet(path)
    expected = sorted_by(df, partition_cols) if partition_cols else df
    pd.testing.assert_frame_equal(back, expected)
    assert back.dtypes.to_dict() == df.dtypes.to_dict()
    assert str(back["tags"].dtype) == str(df["tags"].dtype)  # list field name kept
    assert list(back["grade"].cat.categories) == ["c", "b", "a"]
    assert back["posted"].dtype.pyarrow_dtype == pa.timestamp("s", tz="UTC")  # not ms
    assert back.loc[back["run_slug"] == "01B", "price"].iloc[0] == Decimal("0.000000001")
    for file in [path] if path.is_file() else path.rglob("*.parquet"):
        assert set(pq.read_metadata(file).metadata) == EXPECTED_METADATA_KEYS
        layout = layout_of(file)
        assert layout["kind"] == "results"
        assert layout["columns"][0]["description"] == "Slug of the run that produced the row."


def test_empty_results_frame_round_trips(tmp_path: Path):
    empty = results_frame().iloc[:0].reset_index(drop=True)
    back = read_parquet(to_parquet(empty, tmp_path / "results.parquet"))
    pd.testing.assert_frame_equal(back, empty)


def test_mixed_type_column_becomes_text(tmp_path: Path):
    mixed = [1, "two", 3.5, True, None, np.nan, {"a": [1, None]}, [1, "x"], Decimal("0.10"),
             np.int64(7), pd.NA, ("t", 1)]  # fmt: skip
    df = pd.DataFrame(
        {
            "run_slug": pd.array(["01A"] * len(mixed), dtype=ARROW_STRING),
            "value": pd.Series(mixed, dtype=object),
        }
    )
    path = to_parquet(df, tmp_path / "results.parquet")
    assert pq.read_schema(path).field("value").type == pa.string()
    back = read_parquet(path)
    assert back["value"].dtype == ARROW_STRING
    assert back["value"].tolist() == [
        "1", "two", "3.5", "true", pd.NA, pd.NA, '{"a": [1, null]}', '[1, "x"]', "0.10", "7",
        pd.NA, '["t", 1]',
    ]  # fmt: skip
    # Merging the same column again works: text and strings are the same stored column.
    merged = read_parquet(to_parquet(df, path, mode="merge"))
    assert merged["value"].tolist() == back["value"].tolist()


def test_pandas_reads_our_files_too(tmp_path: Path):
    path = to_parquet(results_frame(), tmp_path / "results.parquet")
    plain = pd.read_parquet(path)  # pyarrow would raise on an unsanitised list dtype name
    assert list(plain.columns) == list(results_frame().columns)
    assert plain["rank"].dtype == "Int64"


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, [{"slug": "x"}], pd.Series([1]), {"slug": []}])
def test_refuses_what_is_not_a_dataframe(tmp_path: Path, bad):
    with pytest.raises(TypeError, match="df must be a pandas DataFrame or a pyarrow Table, got"):
        to_parquet(bad, tmp_path / "x.parquet")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [None, 3, b"runs.parquet", ["runs.parquet"]])
def test_refuses_a_path_of_the_wrong_type(runs: pd.DataFrame, bad):
    with pytest.raises(
        TypeError, match=f"path must be a str or os.PathLike, got {type(bad).__name__}"
    ):
        to_parquet(runs, bad)
    with pytest.raises(TypeError, match="path must be"):
        read_parquet(bad)


@pytest.mark.parametrize("bad", ["", "s3://bucket/runs.parquet"])
def test_refuses_empty_and_remote_paths(runs: pd.DataFrame, bad):
    with pytest.raises(ValueError, match="path"):
        to_parquet(runs, bad)


def test_refuses_bad_paths(runs: pd.DataFrame, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"parent directory .*missing.* does not exist"):
        to_parquet(runs, tmp_path / "missing" / "runs.parquet")
    (tmp_path / "dir").mkdir()
    with pytest.raises(ValueError, match="is a directory, expected a file path"):
        to_parquet(runs, tmp_path / "dir")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, but partition_cols"):
        to_parquet(runs, tmp_path / "file", partition_cols=["origin"])
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        read_parquet(tmp_path / "nothing.parquet")
    assert files_in(tmp_path) == ["dir", "file"]


def test_refuses_frames_that_are_not_ours(runs: pd.DataFrame, tmp_path: Path):
    with pytest.raises(ValueError, match=r"neither a run frame \(missing columns 'slug'"):
        to_parquet(pd.DataFrame({"a": [1]}), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match=r"missing columns 'usage'.*got 'slug'"):
        to_parquet(runs.drop(columns="usage"), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="usage is float64, expected decimal128"):
        to_parquet(runs.astype({"usage": float}), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="status is str, expected category"):
        to_parquet(runs.astype({"status": str}), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="'run_slug' must be a string column, got dtype int64"):
        to_parquet(pd.DataFrame({"run_slug": [1], "a": [2]}), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="got none"):
        to_parquet(pd.DataFrame(), tmp_path / "x.parquet")
    assert list(tmp_path.iterdir()) == []


def test_refuses_labels_it_cannot_store(runs: pd.DataFrame, tmp_path: Path):
    with pytest.raises(ValueError, match=r"named index \['slug'\].*reset_index"):
        to_parquet(runs.set_index("slug", drop=False), tmp_path / "x.parquet")
    dup = pd.concat([results_frame(), results_frame()[["title"]]], axis=1)
    with pytest.raises(ValueError, match="duplicates 'title'"):
        to_parquet(dup, tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="column names must be strings, got 0"):
        to_parquet(results_frame().rename(columns={"title": 0}), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="'when' has dtype period"):
        to_parquet(
            results_frame().assign(when=pd.period_range("2026-01", periods=5, freq="M")),
            tmp_path / "x.parquet",
        )
    assert list(tmp_path.iterdir()) == []
    # An unnamed index (after a filter) is not data: it is dropped.
    failed = runs[runs["fetch_error"].notna()]
    assert list(failed.index) != [0, 1]
    back = read_parquet(to_parquet(failed, tmp_path / "x.parquet"))
    pd.testing.assert_frame_equal(back, failed.reset_index(drop=True))


@pytest.mark.parametrize(
    ("partition_cols", "error", "message"),
    [
        ("scraper_slug", TypeError, r"not a single string: wrap it as \['scraper_slug'\]"),
        (["nope"], ValueError, "partition_cols 'nope' not in df"),
        (["origin", "origin"], ValueError, "duplicates"),
        ([1], TypeError, "column names"),
        (["usage"], ValueError, "cannot partition by 'usage' of dtype decimal128"),
        (["started_at"], ValueError, "cannot partition by 'started_at'.*month"),
        ([c.name for c in RUN_COLUMNS], ValueError, "may not be every column"),
    ],
)
def test_refuses_bad_partition_cols(
    runs: pd.DataFrame, tmp_path: Path, partition_cols, error, message
):
    with pytest.raises(error, match=message):
        to_parquet(runs, tmp_path / "runs", partition_cols=partition_cols)
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_bad_mode(runs: pd.DataFrame, tmp_path: Path):
    with pytest.raises(ValueError, match="mode must be 'overwrite' or 'merge', got 'append'"):
        to_parquet(runs, tmp_path / "x.parquet", mode="append")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_refuses_unrelated_parquet_files(runs: pd.DataFrame, tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    pd.DataFrame({"a": [1, 2]}).to_parquet(other / "a.parquet")
    with pytest.raises(ParquetFormatError, match=r"a.parquet' was not written by .*to_parquet"):
        read_parquet(other)
    with pytest.raises(ParquetFormatError, match="not written by"):
        read_parquet(other / "a.parquet")
    with pytest.raises(ValueError, match=r"refusing to replace .*a.parquet"):
        to_parquet(runs, other, partition_cols=["origin"])
    assert files_in(other) == ["a.parquet"]
    # One stranger among our files is enough to refuse the whole directory.
    ours = to_parquet(runs, tmp_path / "ours", partition_cols=["origin"])
    pd.DataFrame({"a": [1]}).to_parquet(ours / "origin=api" / "stray.parquet")
    with pytest.raises(ParquetFormatError, match=r"stray.parquet"):
        read_parquet(ours)
    assert isinstance(ParquetFormatError("x"), CoreClawError)


def test_refuses_directories_without_parquet_and_non_parquet_files(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="without Parquet files"):
        read_parquet(tmp_path / "empty")
    (tmp_path / "notes.parquet").write_text("not parquet")
    with pytest.raises(ParquetFormatError, match="is not a Parquet file"):
        read_parquet(tmp_path / "notes.parquet")


def test_refuses_a_different_dataset_mixed_in(runs: pd.DataFrame, tmp_path: Path):
    path = to_parquet(runs, tmp_path / "runs", partition_cols=["origin"])
    other = to_parquet(runs.assign(extra=1), tmp_path / "other", partition_cols=["origin"])
    stray = next(other.rglob("*.parquet"))
    stray.rename(path / stray.relative_to(other).parent / "part-1.parquet")
    with pytest.raises(ParquetFormatError, match="mixes datasets"):
        read_parquet(path)


# --- other readers ---------------------------------------------------------------------------


def exact_totals(df: pd.DataFrame) -> tuple[Decimal, int, int]:
    usage = sum((u for u in df["usage"] if u is not pd.NA), Decimal(0))
    return usage, int(df["results"].sum()), len(df)


@pytest.mark.parametrize("partition_cols", [None, ["scraper_slug"]])
def test_duckdb_reads_exact_decimal_totals(runs: pd.DataFrame, tmp_path: Path, partition_cols):
    path = to_parquet(runs, tmp_path / "runs.parquet", partition_cols=partition_cols)
    source = (
        f"read_parquet('{path}/**/*.parquet', hive_partitioning = true)"
        if partition_cols
        else f"read_parquet('{path}')"
    )
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect(config={"autoinstall_known_extensions": False})

    def query(sql: str) -> list[tuple]:
        return con.execute(sql).fetchall()

    [(usage, results, count)] = query(f"SELECT SUM(usage), SUM(results), COUNT(*) FROM {source}")
    assert (usage, int(results), count) == exact_totals(runs)
    assert isinstance(usage, Decimal)
    column_types = {row[0]: row[1] for row in query(f"DESCRIBE SELECT * FROM {source}")}
    assert column_types["usage"] == "DECIMAL(18,10)"
    assert column_types["scraper_slug"] == "VARCHAR"
    assert column_types["started_at"] == "TIMESTAMP WITH TIME ZONE"
    # SQL sums no rows to NULL; pandas to 0.
    per_worker = dict(
        query(f"SELECT scraper_slug, COALESCE(SUM(usage), 0) FROM {source} GROUP BY ALL")
    )
    expected = runs.groupby("scraper_slug", dropna=False)["usage"].sum()
    assert per_worker == {None if k is pd.NA else k: v for k, v in expected.items()}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # raised inside dask
@pytest.mark.parametrize("partition_cols", [None, ["scraper_slug"], ["scraper_slug", "month"]])
def test_dask_reads_exact_totals(runs: pd.DataFrame, tmp_path: Path, partition_cols):
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")

    df = runs.assign(month=runs["started_at"].dt.strftime("%Y-%m"))
    path = to_parquet(df, tmp_path / "runs.parquet", partition_cols=partition_cols)
    options = {}
    if partition_cols:
        # Null partition values (__HIVE_DEFAULT_PARTITION__) need the partition types spelled
        # out: dask infers them file by file otherwise, and an all-null segment has no type.
        fields = [(name, pa.string()) for name in partition_cols]
        options = {"dataset": {"partitioning": {"flavor": "hive", "schema": pa.schema(fields)}}}
    with dask.config.set(scheduler="synchronous"):
        ddf = dd.read_parquet(str(path), **options)
        # A one-column frame, not a Series: dask cannot tokenize a Decimal Series.sum() meta.
        totals = ddf[["usage", "results"]].sum().compute()
        count = len(ddf)
        statuses = ddf["status"].value_counts().compute()
    assert (totals["usage"], int(totals["results"]), count) == exact_totals(runs)
    assert isinstance(totals["usage"], Decimal)
    expected = runs["status"].value_counts()
    assert statuses[statuses > 0].to_dict() == expected[expected > 0].to_dict()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # raised inside dask
def test_dask_reads_a_dataset_without_null_partitions_unchanged(runs: pd.DataFrame, tmp_path: Path):
    dask = pytest.importorskip("dask")
    dd = pytest.importorskip("dask.dataframe")

    fetched = runs[runs["fetch_error"].isna()]
    path = to_parquet(fetched, tmp_path / "runs", partition_cols=["scraper_slug"])
    with dask.config.set(scheduler="synchronous"):
        frame = dd.read_parquet(str(path)).compute()
    assert frame["usage"].sum() == exact_totals(fetched)[0]
    assert sorted(frame["slug"]) == sorted(fetched["slug"])


@pytest.mark.parametrize("version", [1, 2])
def test_files_of_older_schema_versions_read_as_todays_frame(version: int) -> None:
    path = Path(__file__).parent / "data" / f"runs_schema_v{version}.parquet"  # written by them
    stored = pq.read_table(path)
    assert stored.schema.metadata[SCHEMA_VERSION_KEY] == str(version).encode()
    df = read_parquet(path)
    extras = ["note"] if version == 2 else []  # a column the user had added
    assert list(df.columns) == [*RUN_DTYPES, *extras]  # today's order, then theirs
    assert {k: df.dtypes[k] for k in RUN_DTYPES} == {
        k: pd.api.types.pandas_dtype(v) for k, v in RUN_DTYPES.items()
    }
    statuses = stored.column("status").cast(pa.string()).to_pylist()
    assert df["status"].astype(object).where(df["status"].notna(), None).tolist() == statuses
    exact = [v for v in stored.column("usage").to_pylist() if v is not None]
    assert df["usage"].sum() == sum(exact)  # exactly, in the narrower type
    assert df["usage_float"].sum() == pytest.approx(float(sum(exact)))  # gained on read
    assert df["usage_float"].isna().equals(df["usage"].isna())
    floats = [float(v) for v in stored.column("usage").to_pylist() if v is not None]
    assert df["usage_float"].dropna().tolist() == floats  # float(usage), correctly rounded
    if version == 2:
        assert list(df["note"]) == stored.column("note").to_pylist()


def test_a_stored_cost_too_precise_for_todays_type_is_an_error_not_rounded(tmp_path) -> None:
    table = pq.read_table(Path(__file__).parent / "data" / "runs_schema_v2.parquet")
    usage = table.column("usage").to_pylist()
    usage[0] = Decimal("0.000000000012345678")  # 18 places, fine in the old type
    index = table.schema.get_field_index("usage")
    path = tmp_path / "precise.parquet"
    pq.write_table(
        table.set_column(index, "usage", pa.array(usage, table.schema.field(index).type)), path
    )
    with pytest.raises(ParquetFormatError, match="does not fit today's usage type decimal128"):
        read_parquet(path)


@pytest.mark.parametrize("partition_cols", [None, ["status"]])
def test_a_status_no_version_documents_round_trips(tmp_path: Path, partition_cols) -> None:
    records = [V1.canonical_run(r) for r in build_account(seed=3, runs=30).runs]
    records[3] = {**records[3], "status": "paused"}
    df = records_to_frame(records, fetched_at=FETCHED)
    assert list(df["status"].cat.categories)[-1] == "paused"
    path = to_parquet(df, tmp_path / "runs", partition_cols=partition_cols)
    back = read_parquet(path)
    if partition_cols:
        df = sorted_by(df, partition_cols)
    pd.testing.assert_frame_equal(back, df)


def test_merge_into_a_dataset_keeps_its_partitioning_by_default(tmp_path: Path, runs) -> None:
    path = to_parquet(runs.iloc[:100], tmp_path / "runs", partition_cols=["scraper_slug"])
    to_parquet(runs.iloc[100:200], path, mode="merge")  # no partition_cols: the dataset's own
    back = read_parquet(path)
    assert set(back["slug"]) == set(runs["slug"].iloc[:200])
    assert {p.name.split("=")[0] for p in path.iterdir()} == {"scraper_slug"}
