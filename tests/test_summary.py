"""Per-group statistics and their groups: ``summary``, ``failure_costs``, ``group_order``."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import coreclaw_frames._accessor  # noqa: F401  (registers df.coreclaw)
from coreclaw_frames._records import records_to_frame
from coreclaw_frames.analysis import (
    FAILURE_COLUMNS,
    MISSING_LABEL,
    MONEY_DTYPE,
    SUMMARY_COLUMNS,
    failure_costs,
    final_mask,
    group_order,
    period_totals,
    summary,
    version_key,
    version_regressions,
)
from coreclaw_frames.api import is_final
from coreclaw_frames.display import csv_frame
from coreclaw_frames.sandbox import build_account, run_frame

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
SUCCEEDED, RUNNING, FAILED, ABORTING, ABORTED = (
    "succeeded",
    "running",
    "failed",
    "aborting",
    "aborted",
)


def run(title: str, version: str, status: str, usage: str | None, **fields: Any) -> dict[str, Any]:
    """A canonical run record; ``duration`` (seconds) makes it finished."""
    duration = fields.pop("duration", None)
    record: dict[str, Any] = {
        "slug": f"RUN{title}{version}{status}{usage}{duration}{sorted(fields.items())}",
        "status": status,
        "scraper_title": title,
        "scraper_slug": f"SLUG-{title}",
        "version": version,
        "origin": "api",
        "results": 0,
        "usage": usage,
        "traffic": 0,
        "started_at": T0,
        "finished_at": T0 + duration if duration is not None else 0,
        "duration": duration or 0,
    }
    record.update(fields)
    return record


@pytest.fixture(scope="module")
def hand() -> pd.DataFrame:
    """Two workers, a fetch failure; every expected number below is computed by hand."""
    return records_to_frame(
        [
            run("Alpha", "v1.0.9", SUCCEEDED, "0.10", results=100, traffic=1000, duration=60),
            run("Alpha", "v1.0.9", FAILED, "0.20", results=0, traffic=500, duration=120),
            run("Alpha", "v1.0.9", RUNNING, "0.05", results=10, traffic=100),
            run("Beta", "v1.0.10", SUCCEEDED, "1.0000000001", traffic=7, duration=30),
            run("Beta", "v1.0.10", ABORTED, None, duration=90),
            {"slug": "FAILED-FETCH", "fetch_error": "HTTP 404: run not found"},
        ]
    )


@pytest.fixture(scope="module")
def sandbox_frame() -> pd.DataFrame:
    return run_frame(build_account(seed=0, runs=3000), api_version="v1")


def shared_versions() -> pd.DataFrame:
    """Two workers that both have a v1.0.0, with different costs."""
    return records_to_frame(
        [
            run("Jobs", "v1.0.0", SUCCEEDED, "5", duration=10, results=10),
            run("Jobs", "v0.9.0", SUCCEEDED, "1", duration=10, results=10),
            run("Social", "v1.0.0", SUCCEEDED, "2", duration=20, results=10),
            run("Social", "v1.0.0", FAILED, "1", duration=20, results=0),
        ]
    )


def test_both_api_versions_give_the_same_summary() -> None:
    account = build_account(seed=4, runs=2000)
    v1, v2 = (summary(run_frame(account, api_version=v)) for v in ("v1", "v2"))
    pd.testing.assert_frame_equal(v1, v2)
    assert v1["aborted"].sum() == sum(
        r["status"] == 5 and r["finished_at"] > 0 for r in account.runs
    )


def test_summary_matches_hand_computed_numbers(hand: pd.DataFrame) -> None:
    table = summary(hand)
    # Beta costs 1.0000000001 > Alpha's 0.35: most expensive worker first.
    assert list(table.index) == ["Beta", "Alpha"]
    assert tuple(table.columns) == SUMMARY_COLUMNS
    alpha, beta = table.loc["Alpha"], table.loc["Beta"]
    assert (alpha["runs"], alpha["succeeded"], alpha["failed"], alpha["aborted"]) == (3, 1, 1, 0)
    assert alpha["success_rate"] == 0.5  # 1 of 2 finished; the running run is not an outcome
    assert alpha["total_cost"] == Decimal("0.35")
    assert alpha["mean_cost"] == Decimal("0.1166666667")  # 0.35 / 3, half-even
    assert alpha["median_duration"] == pd.Timedelta(seconds=90)  # running run excluded
    assert alpha["p95_duration"] == pd.Timedelta(seconds=117)  # 60 + 0.95 * 60
    assert (alpha["results"], alpha["traffic"]) == (110, 1600)
    assert alpha["cost_per_1k_results"] == Decimal("3.1818181818")  # 350 / 110
    assert (beta["runs"], beta["succeeded"], beta["aborted"]) == (2, 1, 1)
    assert beta["total_cost"] == Decimal("1.0000000001")  # not representable as float
    assert beta["mean_cost"] == Decimal("1.0000000001")  # over the one known cost
    assert beta["median_duration"] == pd.Timedelta(seconds=60)
    assert pd.isna(beta["cost_per_1k_results"])  # no results
    assert table.attrs["fetch_failed"] == 1


def test_summary_money_stays_exact_decimal(hand: pd.DataFrame) -> None:
    table = summary(hand)
    for column in ("total_cost", "mean_cost", "cost_per_1k_results"):
        assert table[column].dtype == MONEY_DTYPE
    assert isinstance(table.loc["Alpha", "total_cost"], Decimal)
    assert table["traffic"].dtype == "Int64"
    assert table["median_duration"].dtype == "timedelta64[s]"


def test_summary_orders_statuses_by_lifecycle(hand: pd.DataFrame) -> None:
    statuses = list(summary(hand, by="status").index)
    assert statuses == ["running", "succeeded", "failed", "aborted"]


def test_a_version_belongs_to_its_worker() -> None:
    frame = shared_versions()
    table = summary(frame, by="version")
    assert table.index.names == ["scraper_title", "version"]
    # Jobs costs $6, Social $3: Jobs first, each worker's versions in version order.
    assert list(table.index) == [("Jobs", "v0.9.0"), ("Jobs", "v1.0.0"), ("Social", "v1.0.0")]
    assert table.loc[("Jobs", "v1.0.0"), "total_cost"] == Decimal(5)
    assert table.loc[("Social", "v1.0.0"), "runs"] == 2
    pd.testing.assert_frame_equal(table, summary(frame, by=["scraper_title", "version"]))
    origin = summary(frame, by=["origin", "version"])
    assert origin.index.names == ["origin", "scraper_title", "version"]
    assert group_order(frame, "version") == [
        "Jobs · v0.9.0",
        "Jobs · v1.0.0",
        "Social · v1.0.0",
    ]


def test_summary_by_worker_and_version_on_the_sandbox(sandbox_frame: pd.DataFrame) -> None:
    table = summary(sandbox_frame, by="version")
    workers = list(dict.fromkeys(table.index.get_level_values(0)))
    assert workers == list(summary(sandbox_frame).index)
    for worker in workers:
        versions = list(table.loc[worker].index)
        assert versions == sorted(versions, key=version_key)
    assert table["runs"].sum() == len(sandbox_frame)
    # Three sandbox workers have a v1.0.0: three rows.
    assert sum(version == "v1.0.0" for _, version in table.index) == 3


def test_summary_total_cost_equals_exact_python_sum(sandbox_frame: pd.DataFrame) -> None:
    table = summary(sandbox_frame)
    for worker, total in table["total_cost"].items():
        rows = sandbox_frame.loc[sandbox_frame["scraper_title"] == worker, "usage"].dropna()
        assert total == sum(rows, Decimal(0))
    totals = list(table["total_cost"])
    assert totals == sorted(totals, reverse=True)


def test_missing_group_values_are_one_group_placed_last() -> None:
    frame = records_to_frame(
        [
            run("Alpha", "v2", SUCCEEDED, "1", origin=None, duration=5),
            run("Beta", "v1", SUCCEEDED, "9", duration=5),
        ]
    )
    assert group_order(frame, "origin") == ["api", MISSING_LABEL]
    assert summary(frame, by="origin").loc[MISSING_LABEL, "total_cost"] == Decimal(1)


@pytest.mark.parametrize(
    "records",
    [
        pytest.param([], id="empty"),
        pytest.param([{"slug": f"S{i}", "fetch_error": "timeout"} for i in range(3)], id="failed"),
        pytest.param([run("Solo", "v1", SUCCEEDED, None, duration=3)], id="single-na-cost"),
    ],
)
def test_summary_edge_cases(records: list[dict[str, Any]]) -> None:
    table = summary(records_to_frame(records))
    assert tuple(table.columns) == SUMMARY_COLUMNS
    assert table["total_cost"].dtype == MONEY_DTYPE
    assert table.attrs["fetch_failed"] == sum("fetch_error" in r for r in records)
    if records and "fetch_error" not in records[0]:
        assert table.loc["Solo", "runs"] == 1
        assert pd.isna(table.loc["Solo", "total_cost"])  # no known cost is not $0
    else:
        assert table.empty


def test_summary_of_hundreds_of_groups(sandbox_frame: pd.DataFrame) -> None:
    workers = [i % 300 for i in range(len(sandbox_frame))]
    dtype = sandbox_frame["scraper_title"].dtype
    frame = sandbox_frame.assign(
        scraper_title=pd.Series([f"Worker {i:03d}" for i in workers], dtype=dtype),
        scraper_slug=pd.Series([f"worker~w{i:03d}" for i in workers], dtype=dtype),
    )
    table = summary(frame)
    assert len(table) == 300
    assert table["runs"].sum() == len(frame)


def test_summary_rejects_bad_input(hand: pd.DataFrame) -> None:
    bad_data: Any = [{"slug": "x"}]
    with pytest.raises(TypeError, match="DataFrame"):
        summary(bad_data)
    with pytest.raises(ValueError, match=r"by='worker'.*scraper_title"):
        summary(hand, by="worker")
    with pytest.raises(ValueError, match="at least one column"):
        summary(hand, by=[])
    with pytest.raises(ValueError, match="'usage'"):
        summary(hand.drop(columns="usage"))
    with pytest.raises(TypeError, match="float64"):
        summary(hand.assign(usage=1.5))


def test_summary_accepts_python_decimals(hand: pd.DataFrame) -> None:
    as_objects = hand.assign(usage=hand["usage"].astype(object))
    assert summary(as_objects).loc["Beta", "total_cost"] == Decimal("1.0000000001")


def test_accessor_summary(hand: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(hand.coreclaw.summary(by="status"), summary(hand, "status"))


def test_money_columns_are_arrow_decimals() -> None:
    rows = [run("A", "v1", SUCCEEDED, "1", results=1, duration=1)]
    table = summary(records_to_frame(rows))
    assert pa.types.is_decimal(table["cost_per_1k_results"].dtype.pyarrow_dtype)
    assert table.loc["A", "cost_per_1k_results"] == Decimal(1000)


# --- finality ---------------------------------------------------------------------------------


def test_final_mask_agrees_with_is_final_record_by_record() -> None:
    records = [
        run("A", "v1", SUCCEEDED, "1", duration=5),
        run("A", "v1", FAILED, "1", duration=5),
        run("A", "v1", ABORTED, "1", duration=5),
        run("A", "v1", ABORTING, "1", duration=5),  # an abort that has ended
        run("A", "v1", ABORTING, "1"),  # still being aborted
        run("A", "v1", RUNNING, "1"),
        run("A", "v1", "ready", "0", started_at=0),
        run("A", "v1", "paused", "1"),  # a status no API version documents
    ]
    mask = final_mask(records_to_frame(records))
    assert list(mask) == [is_final(r) for r in records]
    assert list(mask) == [True, True, True, True, False, False, False, False]


# --- failure_costs ----------------------------------------------------------------------------


def test_failure_costs_by_hand() -> None:
    frame = records_to_frame(
        [
            run("Alpha", "v1", SUCCEEDED, "3.00", duration=5),
            run("Alpha", "v1", FAILED, "0.50", duration=5),
            run("Alpha", "v1", ABORTING, "0.25"),  # being aborted: aborted spend
            run("Alpha", "v1", ABORTED, "0.0000000001", duration=5),
            run("Beta", "v1", SUCCEEDED, "1", duration=5),
            run("Gamma", "v1", SUCCEEDED, "0", duration=5),
        ]
    )
    table = failure_costs(frame)
    assert tuple(table.columns) == FAILURE_COLUMNS
    assert list(table.index) == ["Alpha", "Beta", "Gamma"]
    alpha = table.loc["Alpha"]
    assert (alpha["runs"], alpha["failed"], alpha["aborted"]) == (4, 1, 2)
    assert alpha["failed_cost"] == Decimal("0.50")
    assert alpha["aborted_cost"] == Decimal("0.2500000001")
    assert alpha["failed_or_aborted_cost"] == Decimal("0.7500000001")
    assert alpha["total_cost"] == Decimal("3.7500000001")
    assert alpha["failed_or_aborted_share"] == pytest.approx(0.75 / 3.75)
    assert table.loc["Beta", "failed_or_aborted_cost"] == Decimal(0)
    assert pd.isna(table.loc["Gamma", "failed_or_aborted_share"])  # nothing spent at all
    for column in ("failed_cost", "aborted_cost", "failed_or_aborted_cost", "total_cost"):
        assert table[column].dtype == MONEY_DTYPE


def test_failure_costs_are_exact_sums_on_the_sandbox(sandbox_frame: pd.DataFrame) -> None:
    table = sandbox_frame.coreclaw.failure_costs()
    wasted = sandbox_frame["status"].isin(["failed", "aborting", "aborted"])
    assert sum(table["failed_or_aborted_cost"], Decimal(0)) == sum(
        sandbox_frame.loc[wasted, "usage"].dropna(), Decimal(0)
    )
    assert list(table.index) == list(summary(sandbox_frame).index)
    by_version = failure_costs(sandbox_frame, by="version")
    assert by_version.index.names == ["scraper_title", "version"]


# --- a worker is its slug ----------------------------------------------------------------------


def two_owners() -> pd.DataFrame:
    """Two owners' workers titled "Jobs" (a path and a ULID), and a worker renamed once."""
    return records_to_frame(
        [
            run("Jobs", "v1.0.0", SUCCEEDED, "5", duration=10, scraper_slug="acme~jobs"),
            run("Jobs", "v1.0.0", FAILED, "1", duration=10, scraper_slug="acme~jobs"),
            run("Jobs", "v1.0.0", SUCCEEDED, "2", duration=10, scraper_slug=ULID_WORKER),
            run("Old name", "v2", SUCCEEDED, "1", duration=10, scraper_slug="R", started_at=T0),
            run("New name", "v2", SUCCEEDED, "1", duration=10, scraper_slug="R", started_at=T0 + 9),
        ]
    )


ULID_WORKER = "01KSFDS8XWTJME33C08XMCR6B9"
JOBS_A, JOBS_B = "Jobs (acme~jobs)", "Jobs (…8XMCR6B9)"


def test_workers_sharing_a_title_stay_apart_and_are_told_apart_by_slug() -> None:
    table = summary(two_owners())
    assert list(table.index) == [JOBS_A, "New name", JOBS_B]  # by cost, then runs
    assert table["runs"].tolist() == [2, 2, 1]
    assert table.loc[JOBS_A, "total_cost"] == Decimal(6)
    failures = failure_costs(two_owners())
    assert failures.loc[JOBS_A, "failed_cost"] == Decimal(1)
    assert failures.loc[JOBS_B, "failed_cost"] == Decimal(0)
    assert group_order(two_owners()) == [JOBS_A, "New name", JOBS_B]


def test_a_version_belongs_to_its_worker_even_when_titles_are_shared() -> None:
    table = summary(two_owners(), by="version")
    assert list(table.index) == [(JOBS_A, "v1.0.0"), ("New name", "v2"), (JOBS_B, "v1.0.0")]
    assert table["runs"].tolist() == [2, 2, 1]
    assert f"{JOBS_B} · v1.0.0" in group_order(two_owners(), "version")


def test_a_renamed_worker_is_one_group_named_by_its_newest_title() -> None:
    frame = two_owners()
    assert "Old name" not in summary(frame).index
    assert summary(frame.iloc[::-1]).loc["New name", "runs"] == 2  # not by row order


def test_a_frame_without_slugs_still_groups_by_title() -> None:
    table = summary(two_owners().drop(columns="scraper_slug"))
    assert list(table.index) == ["Jobs", "New name", "Old name"]


# --- frames that are not run frames: clear errors, named after the function called -----------


def read_back_from_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` written as the CLI writes CSV and read back with exact costs."""
    text = csv_frame(frame).to_csv(index=False)
    converters = {"usage": lambda cell: Decimal(cell) if cell else None}
    return pd.read_csv(io.StringIO(text), converters=converters)


@pytest.mark.parametrize(
    ("call", "caller", "column"),
    [
        (summary, "summary", "duration"),
        (lambda df: df.coreclaw.summary(by="version"), "summary", "duration"),
        (version_regressions, "version_regressions", "duration"),
        (lambda df: period_totals(df.assign(results=0, traffic=0)), "period_totals", "started_at"),
        (summary, "summary", "results"),  # with its durations converted
    ],
    ids=["summary", "summary by version", "version_regressions", "period_totals", "results"],
)
def test_a_frame_read_back_from_csv_is_refused_saying_how_to_convert_it(
    hand: pd.DataFrame, call: Any, caller: str, column: str
) -> None:
    frame = read_back_from_csv(hand)
    if column == "results":
        frame = frame.assign(duration=pd.to_timedelta(frame["duration"]))
    with pytest.raises(TypeError, match=rf"^{caller}: {column} must be .*, got dtype \w+; for a"):
        call(frame)


def test_failure_costs_of_a_csv_frame_works_with_exact_costs_and_refuses_floats(
    hand: pd.DataFrame,
) -> None:
    frame = read_back_from_csv(hand)
    assert failure_costs(frame)["total_cost"].sum() == failure_costs(hand)["total_cost"].sum()
    floats = pd.read_csv(io.StringIO(csv_frame(hand).to_csv(index=False)))
    with pytest.raises(TypeError, match=r"^failure_costs: usage must hold exact decimals"):
        failure_costs(floats)
