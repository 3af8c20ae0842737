"""Frames as Arrow tables and back: the run schema kept exactly, results typed as fetched,
tables of other libraries taken without loss, Polars with exact decimals, Parquet of a table."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import coreclaw_frames as ccf
from coreclaw_frames._records import records_to_frame, records_to_table
from coreclaw_frames._results import results_frame
from coreclaw_frames.api._v1 import V1
from coreclaw_frames.sandbox import build_account
from coreclaw_frames.schema import RUN_COLUMNS, run_arrow_schema

FETCHED = pd.Timestamp("2026-03-16T00:00:00Z")
SLUG = "01KSFDS8XWTJME33C08XMCR6B9"
OTHER = "01KSFDS8XWTJME33C08XMCR6BA"


@pytest.fixture(scope="module")
def records() -> list[dict]:
    runs = [V1.canonical_run(r) for r in build_account(seed=0, runs=500).runs]
    return [*runs, {"slug": OTHER, "fetch_error": "70001 Run record does not exist"}]


@pytest.fixture(scope="module")
def runs(records: list[dict]) -> pd.DataFrame:
    return records_to_frame(records, fetched_at=FETCHED)


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    rows = [
        {"title": "A", "n": 1, "score": 1.5, "ok": True, "tags": ["x"], "mixed": 1},
        {"title": "B", "n": None, "score": None, "ok": False, "tags": [], "mixed": "two"},
        {"title": None, "n": 3, "score": 0.25, "ok": None, "tags": None, "mixed": None},
    ]
    return results_frame([(SLUG, (["title"], rows)), (OTHER, "70001 Run record does not exist")])


def plain(values: pd.Series) -> list:
    """The values as Python objects, None where missing (as Arrow's ``to_pylist`` gives them)."""
    return [None if pd.isna(v) else v for v in values.astype(object)]


def exact_total(values: list[Decimal | None]) -> Decimal:
    return sum((v for v in values if v is not None), Decimal(0))


# --- run frames ------------------------------------------------------------------------------


def test_run_frame_becomes_a_table_of_the_run_schema(runs: pd.DataFrame) -> None:
    table = ccf.to_arrow(runs)
    assert table.schema.equals(run_arrow_schema(), check_metadata=True)
    assert table.column("usage").to_pylist() == plain(runs["usage"])  # exact Decimals
    assert table.column("status").to_pylist() == plain(runs["status"])


def test_the_table_of_a_frame_is_the_table_it_was_built_from(records: list[dict]) -> None:
    built = records_to_table(records, fetched_at=FETCHED)
    assert ccf.to_arrow(records_to_frame(records, fetched_at=FETCHED)).equals(built)


def test_run_frame_round_trips_with_columns_a_user_added(runs: pd.DataFrame) -> None:
    df = runs.assign(
        month=runs["started_at"].dt.strftime("%Y-%m").astype(pd.ArrowDtype(pa.string())),
        rank=pd.array(range(len(runs)), dtype="Int64"),
    )
    assert ccf.to_arrow(df).column_names == list(df.columns)
    pd.testing.assert_frame_equal(ccf.from_arrow(ccf.to_arrow(df)), df)


def test_a_table_without_usage_float_gets_it_derived(runs: pd.DataFrame) -> None:
    table = ccf.to_arrow(runs).drop_columns(["usage_float"])
    back = ccf.from_arrow(table)
    assert list(back.columns) == [*table.column_names, "usage_float"]
    pd.testing.assert_series_equal(back["usage_float"], runs["usage_float"])


def test_tables_of_other_libraries_are_taken_without_loss(runs: pd.DataFrame) -> None:
    table = ccf.to_arrow(runs)
    widened = {
        "slug": pa.large_string(),
        "scraper_title": pa.string_view(),
        "status": pa.dictionary(pa.uint32(), pa.large_string()),
        "started_at": pa.timestamp("ms", tz="Europe/Berlin"),
        "finished_at": pa.timestamp("ns", tz="UTC"),
        "duration": pa.duration("ms"),
        "results": pa.int32(),
        "usage": pa.decimal128(38, 18),
        "usage_float": pa.float32(),
    }
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        target = widened.get(field.name)
        if field.name == "status":
            column = column.cast(pa.string()).dictionary_encode().cast(target)
        elif target is not None and field.name != "usage_float":
            column = column.cast(target)
        columns.append(column)
    foreign = pa.table(columns, names=table.column_names).drop_columns(["usage_float"])
    pd.testing.assert_frame_equal(
        ccf.from_arrow(foreign), runs[[*foreign.column_names, "usage_float"]]
    )


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            lambda t: t.set_column(13, "usage", t.column("usage").cast(pa.float64())),
            ValueError,
            r"1 run column has the wrong type: usage is double, expected decimal128\(18, 10\)",
        ),
        (
            lambda t: t.set_column(4, "started_at", t.column("started_at").cast(pa.timestamp("s"))),
            ValueError,
            r"started_at is timestamp\[s\], expected timestamp\[s, tz=UTC\]",
        ),
        (
            lambda t: t.set_column(
                4,
                "started_at",
                pc.add(
                    t.column("started_at").cast(pa.timestamp("ms", tz="UTC")),
                    pa.scalar(1, pa.duration("ms")),
                ),
            ),
            ValueError,
            r"column 'started_at' holds values that timestamp\[s, tz=UTC\] cannot hold exactly",
        ),
        (
            lambda t: t.set_column(
                13,
                "usage",
                pa.array([Decimal("0.00000000001")] * t.num_rows, pa.decimal128(38, 18)),
            ),
            ValueError,
            r"column 'usage' holds values that decimal128\(18, 10\) cannot hold exactly",
        ),
        (lambda t: t.drop_columns(["slug"]), ValueError, r"neither a run table .*'slug'"),
        (
            lambda t: pa.table([t.column(0), t.column(0)], names=["slug", "slug"]),
            ValueError,
            "duplicates 'slug'",
        ),
        (lambda t: t.to_pandas(), TypeError, "table must be a pyarrow Table, got DataFrame"),
    ],
)
def test_a_table_that_is_no_run_table_is_refused(
    runs: pd.DataFrame, change, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ccf.from_arrow(change(ccf.to_arrow(runs)))


def test_to_arrow_refuses_what_no_frame_holds(runs: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match="frame must be a pandas DataFrame, got Table"):
        ccf.to_arrow(ccf.to_arrow(runs))
    with pytest.raises(ValueError, match="usage is float64, expected decimal128"):
        ccf.to_arrow(runs.assign(usage=runs["usage_float"]))
    with pytest.raises(ValueError, match="neither a run frame"):
        ccf.to_arrow(pd.DataFrame({"title": ["a"]}))


# --- results frames --------------------------------------------------------------------------


def test_results_frame_becomes_a_table_typed_as_fetched(results: pd.DataFrame) -> None:
    table = ccf.to_arrow(results)
    types = {field.name: field.type for field in table.schema}
    assert types == {
        "run_slug": pa.string(),
        "title": pa.string(),
        "n": pa.int64(),
        "score": pa.float64(),
        "ok": pa.bool_(),
        "tags": pa.list_(pa.string()),
        "mixed": pa.string(),  # values of no common type, as text (as in Parquet)
        "fetch_error": pa.string(),
    }
    assert table.column("mixed").to_pylist() == ["1", "two", None, None]


def test_results_frame_round_trips_but_for_mixed_columns(results: pd.DataFrame) -> None:
    back = ccf.from_arrow(ccf.to_arrow(results))
    pd.testing.assert_frame_equal(back.drop(columns="mixed"), results.drop(columns="mixed"))
    assert back["mixed"].dtype == pd.ArrowDtype(pa.string())


def test_a_results_table_needs_text_slugs(results: pd.DataFrame) -> None:
    table = ccf.to_arrow(results)
    large = table.set_column(0, "run_slug", table.column(0).cast(pa.large_string()))
    pd.testing.assert_frame_equal(ccf.from_arrow(large), ccf.from_arrow(table))
    numbers = table.set_column(0, "run_slug", pa.array(range(table.num_rows)))
    with pytest.raises(ValueError, match="'run_slug' must be a string column, got type int64"):
        ccf.from_arrow(numbers)


# --- Polars ----------------------------------------------------------------------------------


def test_polars_gets_exact_decimals_and_gives_the_frame_back(runs: pd.DataFrame) -> None:
    pl = pytest.importorskip("polars")
    frame = pl.from_arrow(ccf.to_arrow(runs))
    assert frame.schema["usage"] == pl.Decimal(18, 10)
    assert frame["usage"].to_list() == plain(runs["usage"])
    total = frame.select(pl.col("usage").sum()).item()
    assert total == exact_total(plain(runs["usage"]))  # exact, never through float
    pd.testing.assert_frame_equal(ccf.from_arrow(frame.to_arrow()), runs)


def test_polars_takes_a_results_table(results: pd.DataFrame) -> None:
    pl = pytest.importorskip("polars")
    frame = pl.from_arrow(ccf.to_arrow(results))
    assert frame.schema["n"] == pl.Int64 and frame.schema["tags"] == pl.List(pl.String)
    assert frame["run_slug"].to_list() == plain(results["run_slug"])


# --- Parquet of a table ----------------------------------------------------------------------


def test_to_parquet_of_a_run_table_round_trips_exactly(records: list[dict], tmp_path: Path):
    table = records_to_table(records, fetched_at=FETCHED)
    path = ccf.to_parquet(table, tmp_path / "runs.parquet")
    back = ccf.read_parquet(path)
    assert ccf.to_arrow(back).equals(table)
    pd.testing.assert_frame_equal(back, records_to_frame(records, fetched_at=FETCHED))


def test_to_parquet_of_a_results_table_round_trips_exactly(results: pd.DataFrame, tmp_path: Path):
    table = ccf.to_arrow(results)
    path = ccf.to_parquet(table, tmp_path / "results", partition_cols=["run_slug"])
    back = ccf.read_parquet(path)
    assert ccf.to_arrow(back).equals(table.sort_by([("run_slug", "ascending")]))


def test_to_parquet_merges_a_table_into_a_frame_written_before(
    runs: pd.DataFrame, tmp_path: Path
) -> None:
    path = ccf.to_parquet(runs.iloc[:300], tmp_path / "runs.parquet")
    ccf.to_parquet(ccf.to_arrow(runs.iloc[200:]), path, mode="merge")
    pd.testing.assert_frame_equal(ccf.read_parquet(path), runs)


def test_to_parquet_refuses_a_wrong_table_and_writes_nothing(
    runs: pd.DataFrame, tmp_path: Path
) -> None:
    table = ccf.to_arrow(runs)
    floats = table.set_column(13, "usage", table.column("usage").cast(pa.float64()))
    with pytest.raises(ValueError, match="usage is double, expected decimal128"):
        ccf.to_parquet(floats, tmp_path / "runs.parquet")
    assert list(tmp_path.iterdir()) == []


def test_every_run_column_is_named_in_the_table_in_order(runs: pd.DataFrame) -> None:
    assert ccf.to_arrow(runs).column_names == [c.name for c in RUN_COLUMNS]
