"""Summary statistics, group ordering, version keys and version regressions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import coreclaw_frames.accessor  # noqa: F401  (registers df.coreclaw)
from coreclaw_frames.records import records_to_frame
from coreclaw_frames.sandbox import build_account, run_frame
from coreclaw_frames.summary import (
    MISSING_LABEL,
    MONEY_DTYPE,
    SUMMARY_COLUMNS,
    group_order,
    summary,
    version_key,
    version_regressions,
)

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
SUCCEEDED, RUNNING, FAILED, ABORTED = "succeeded", "running", "failed", "aborted"


def run(title: str, version: str, status: int, usage: str | None, **fields: Any) -> dict[str, Any]:
    """A raw run record; ``duration`` (seconds) makes it finished."""
    duration = fields.pop("duration", None)
    record: dict[str, Any] = {
        "slug": f"RUN{len(title)}{version}{status}{usage}{duration}",
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


def test_both_api_versions_give_the_same_summary() -> None:
    account = build_account(seed=4, runs=2000)
    v1, v2 = (summary(run_frame(account, api_version=v)) for v in ("v1", "v2"))
    pd.testing.assert_frame_equal(v1, v2)
    assert v1["aborted"].sum() == sum(
        r["status"] == 5 and r["finished_at"] > 0 for r in account.runs
    )


@pytest.fixture(scope="module")
def sandbox_frame() -> pd.DataFrame:
    return run_frame(build_account(seed=0, runs=3000), api_version="v1")


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


def test_summary_orders_versions_as_versions_and_statuses_by_lifecycle(
    hand: pd.DataFrame,
) -> None:
    assert list(summary(hand, by="version").index) == ["v1.0.9", "v1.0.10"]
    statuses = list(summary(hand, by="status").index)
    assert statuses == ["running", "succeeded", "failed", "aborted"]


def test_summary_by_worker_and_version(sandbox_frame: pd.DataFrame) -> None:
    table = summary(sandbox_frame, by=["scraper_title", "version"])
    workers = list(dict.fromkeys(table.index.get_level_values(0)))
    assert workers == list(summary(sandbox_frame).index)
    for worker in workers:
        versions = list(table.loc[worker].index)
        assert versions == sorted(versions, key=version_key)
    assert table["runs"].sum() == len(sandbox_frame)


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
    frame = sandbox_frame.assign(
        scraper_title=pd.Series(
            [f"Worker {i % 300:03d}" for i in range(len(sandbox_frame))],
            dtype=sandbox_frame["scraper_title"].dtype,
        )
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
    with pytest.raises(ValueError, match="'usage'"):
        summary(hand.drop(columns="usage"))
    with pytest.raises(TypeError, match="float64"):
        summary(hand.assign(usage=1.5))


def test_summary_accepts_python_decimals(hand: pd.DataFrame) -> None:
    as_objects = hand.assign(usage=hand["usage"].astype(object))
    assert summary(as_objects).loc["Beta", "total_cost"] == Decimal("1.0000000001")


def test_accessor_summary(hand: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(hand.coreclaw.summary(by="version"), summary(hand, "version"))


# --- version_key ------------------------------------------------------------------------------


def test_version_key_orders_versions() -> None:
    shuffled: list[str | None] = [
        "latest",
        "v1.0.10",
        "1.2",
        "v1.0.9",
        "v1.0.10-rc.1",
        "v2.0.0",
        "v0.10.0",
    ]
    shuffled += ["v1.0.10.dev3", "v1.0.10a1", "v1.0.10-beta", "v1.0.10.post1", None, "main"]
    assert sorted(shuffled, key=version_key) == [
        "v0.10.0",
        "v1.0.9",
        "v1.0.10.dev3",
        "v1.0.10a1",
        "v1.0.10-beta",
        "v1.0.10-rc.1",
        "v1.0.10",
        "v1.0.10.post1",
        "1.2",
        "v2.0.0",
        "latest",
        "main",
        None,
    ]
    assert version_key("1.2") < version_key("1.2.0")  # equal versions, tie broken by text
    assert version_key("v1.2")[:4] == version_key("1.2.0")[:4]


@given(st.lists(st.one_of(st.text(), st.none(), st.integers(), st.floats())))
def test_version_key_never_crashes(values: list[object]) -> None:
    ordered = sorted(values, key=version_key)
    assert sorted(ordered, key=version_key) == ordered


def test_version_key_handles_huge_numbers() -> None:
    huge = "9" * 5000  # beyond int()'s digit limit
    assert sorted([huge, "10"], key=version_key) == ["10", huge]


# --- version_regressions ----------------------------------------------------------------------


def test_version_regressions_on_hand_built_frame() -> None:
    rows = [
        # v1.0.9: median 100 s, $1.00 per 1,000 results.
        run("Alpha", "v1.0.9", SUCCEEDED, "1.00", results=1000, duration=100),
        # v1.0.10 (after v1.0.9, not before): median 115 s (+15%), cost per result equal.
        run("Alpha", "v1.0.10", SUCCEEDED, "1.00", results=1000, duration=115),
        # v1.1.0: median 120 s (+4.3%), $1.10 per 1,000 (+10%, not more): no regression.
        run("Alpha", "v1.1.0", SUCCEEDED, "1.10", results=1000, duration=120),
        # v1.2.0: cost per 1,000 $1.2100000001 (+10.000000009%): a cost regression, exactly.
        run("Alpha", "v1.2.0", SUCCEEDED, "1.2100000001", results=1000, duration=120),
        # Another worker is compared only with itself.
        run("Beta", "v0.1", SUCCEEDED, "5.00", results=1000, duration=10),
        run("Beta", "v0.2", SUCCEEDED, "1.00", results=1000, duration=10),
    ]
    found = version_regressions(records_to_frame(rows))
    pairs = list(zip(found["previous_version"], found["version"], strict=True))
    assert pairs == [("v1.0.9", "v1.0.10"), ("v1.1.0", "v1.2.0")]
    assert list(found["scraper_title"]) == ["Alpha", "Alpha"]
    assert list(found["duration_regressed"]) == [True, False]
    assert list(found["cost_regressed"]) == [False, True]
    assert found.loc[0, "duration_change"] == pytest.approx(0.15)
    assert found.loc[1, "cost_per_1k_results"] == Decimal("1.2100000001")
    # A stricter threshold drops the +10.000000009% cost rise and keeps the +15% duration.
    strict = version_regressions(records_to_frame(rows), threshold=0.12)
    assert list(strict["version"]) == ["v1.0.10"]


def test_version_regressions_edge_cases() -> None:
    empty = version_regressions(records_to_frame([]))
    assert empty.empty and "cost_regressed" in empty.columns
    with pytest.raises(ValueError, match="threshold"):
        version_regressions(records_to_frame([]), threshold=-0.1)


def test_money_columns_are_arrow_decimals() -> None:
    rows = [run("A", "v1", SUCCEEDED, "1", results=1, duration=1)]
    table = summary(records_to_frame(rows))
    assert pa.types.is_decimal(table["cost_per_1k_results"].dtype.pyarrow_dtype)
    assert table.loc["A", "cost_per_1k_results"] == Decimal(1000)
