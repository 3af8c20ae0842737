"""Version regressions that mean something: enough runs, a real baseline, strictly above."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

import coreclaw_frames._accessor  # noqa: F401  (registers df.coreclaw)
from coreclaw_frames._records import records_to_frame
from coreclaw_frames.analysis import REGRESSION_COLUMNS, version_regressions
from coreclaw_frames.display import NOT_APPLICABLE_TEXT, ReadableFrame
from coreclaw_frames.sandbox import build_account, run_frame

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def runs(
    title: str,
    version: str,
    count: int,
    *,
    usage: str = "1.00",
    results: int = 1000,
    duration: int = 100,
    status: str = "succeeded",
) -> list[dict[str, Any]]:
    """``count`` identical finished runs of one worker version."""
    return [
        {
            "slug": f"{title}-{version}-{status}-{i}",
            "status": status,
            "scraper_title": title,
            "scraper_slug": title,
            "version": version,
            "results": results,
            "usage": usage,
            "traffic": 0,
            "started_at": T0,
            "finished_at": T0 + duration,
            "duration": duration,
        }
        for i in range(count)
    ]


def regressions(records: list[dict[str, Any]], **options: Any) -> pd.DataFrame:
    return version_regressions(records_to_frame(records), **options)


def test_a_two_run_version_is_never_flagged() -> None:
    # The reported case: 68 runs against 2 with a cost per result thousands of times higher.
    records = runs("Shop", "v1.0.0", 68) + runs("Shop", "v1.0.1", 2, usage="1785", duration=9000)
    found = regressions(records)
    assert found.empty
    assert found.attrs == {"compared": 0, "too_few_runs": 1}
    assert regressions(records, min_runs=2)["version"].tolist() == ["v1.0.1"]


def test_both_versions_need_min_runs_finished_runs() -> None:
    unfinished = [
        {**r, "status": "running", "finished_at": 0, "duration": 0}
        for r in runs("Shop", "v2", 30, usage="9", duration=500)
    ]
    records = runs("Shop", "v1", 25) + runs("Shop", "v2", 19, usage="9", duration=500) + unfinished
    # v2 has 49 runs but only 19 finished ones: not compared.
    assert regressions(records).empty
    assert not regressions(records, min_runs=19).empty


def test_exactly_the_threshold_is_not_flagged() -> None:
    records = runs("Shop", "v1.0.0", 20, usage="1.00", duration=100) + runs(
        "Shop", "v1.0.1", 20, usage="1.10", duration=110
    )
    assert regressions(records).empty  # +10.0% on both metrics, exactly
    above = runs("Shop", "v1.0.0", 20, usage="1.00") + runs(
        "Shop", "v1.0.1", 20, usage="1.1000000001"
    )
    found = regressions(above)
    assert found["cost_regressed"].tolist() == [True]
    assert found.loc[0, "cost_per_1k_results"] == Decimal("1.1000000001")  # exact, not float


def test_a_baseline_near_zero_gives_no_percentage() -> None:
    records = runs("Shop", "v1", 20, usage="0.00000005", duration=0) + runs(
        "Shop", "v2", 20, usage="5.00", duration=100
    )
    found = regressions(records, min_runs=20)
    # $0.00005 per 1,000 results and 0 s are below the smallest step shown: n/a, not flagged.
    assert found.empty
    slower = records + runs("Shop", "v3", 20, usage="5.00", duration=200)
    row = regressions(slower).iloc[0]
    assert (row["previous_version"], row["version"]) == ("v2", "v3")
    assert row["duration_change"] == pytest.approx(1.0)


def test_versions_are_compared_within_one_worker_in_version_order() -> None:
    records = (
        runs("Jobs", "v1.0.10", 20, usage="2.00")
        + runs("Jobs", "v1.0.9", 20, usage="1.00")
        # Another worker's v1.0.0 is dearer than anything of Jobs: never compared with it.
        + runs("Social", "v1.0.0", 20, usage="50.00")
        + runs("Social", "v1.0.1", 20, usage="50.00")
    )
    found = regressions(records)
    assert found[["scraper_title", "previous_version", "version"]].values.tolist() == [
        ["Jobs", "v1.0.9", "v1.0.10"]
    ]
    assert found.attrs["compared"] == 2


def test_two_owners_workers_sharing_a_title_are_never_compared_with_each_other() -> None:
    bob = runs("Jobs", "v2", 20)
    other = [{**r, "slug": "B" + r["slug"], "scraper_slug": "bob~jobs"} for r in bob]
    records = (
        runs("Jobs", "v1", 20, usage="1.00")  # alice's worker: v1 only
        + [{**r, "usage": "9.00"} for r in other]  # bob's: v2 only, far dearer
        + runs("Jobs", "v0", 20, usage="0.50")  # alice's older version
    )
    records = [{**r, "scraper_slug": r.get("scraper_slug", "Jobs")} for r in records]
    found = regressions(records)
    # Alice's v0 -> v1 doubled in cost; bob's v2 has nothing before it.
    assert found[["scraper_title", "previous_version", "version"]].values.tolist() == [
        ["Jobs (Jobs)", "v0", "v1"]
    ]
    assert found.attrs["compared"] == 1


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("usage", 1.0, "usage must hold exact decimals"),
        ("results", 1.5, r"results must be integers \(Int64\), got dtype float64"),
    ],
)
def test_errors_are_labelled_with_the_function_called(column, value, message) -> None:
    frame = records_to_frame(runs("Shop", "v1", 2)).assign(**{column: value})
    with pytest.raises(TypeError, match=f"^version_regressions: {message}"):
        version_regressions(frame)


def test_a_sparse_version_is_skipped_not_compared() -> None:
    records = (
        runs("Shop", "v1", 30, usage="1.00")
        + runs("Shop", "v2", 3, usage="9.00")
        + runs("Shop", "v3", 30, usage="1.50")
    )
    found = regressions(records)
    assert found[["previous_version", "version"]].values.tolist() == [["v1", "v3"]]
    assert found.attrs == {"compared": 1, "too_few_runs": 1}


def test_result_columns_and_display() -> None:
    records = runs("Shop", "v1", 20, duration=0) + runs("Shop", "v2", 20, usage="2.00")
    found = regressions(records)
    assert tuple(found.columns) == REGRESSION_COLUMNS
    assert isinstance(found, ReadableFrame)
    assert pd.isna(found.loc[0, "duration_change"])  # from 0 s: no percentage
    assert found.loc[0, "cost_change"] == pytest.approx(1.0)
    with pd.option_context("display.width", 300, "display.max_columns", 20):
        assert NOT_APPLICABLE_TEXT in repr(found) and "+100.0%" in repr(found)
    assert NOT_APPLICABLE_TEXT in found._repr_html_()


def test_edge_cases_and_bad_input() -> None:
    empty = regressions([])
    assert empty.empty and tuple(empty.columns) == REGRESSION_COLUMNS
    with pytest.raises(ValueError, match="threshold"):
        regressions([], threshold=-0.1)
    with pytest.raises(ValueError, match="min_runs"):
        regressions([], min_runs=0)
    with pytest.raises(TypeError):
        version_regressions(records_to_frame([]), 0.1)  # type: ignore[misc]


def test_the_sandbox_flags_only_well_measured_versions() -> None:
    frame = run_frame(build_account(seed=0, runs=5000)).head(2000)
    found = frame.coreclaw.version_regressions()
    assert not found.empty
    assert (found["previous_runs"] >= 20).all() and (found["runs"] >= 20).all()
    changes = pd.concat([found["duration_change"], found["cost_change"]]).dropna()
    assert (changes.abs() < 100).all()  # no absurd percentages
    strict = frame.coreclaw.version_regressions(min_runs=100, threshold=0.5)
    assert len(strict) < len(found)
