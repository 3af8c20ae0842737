"""Cost anomalies: quiet on clean data, gross outliers caught, small groups said so, exact money."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from statistics import median
from typing import Any

import numpy as np
import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames._records import records_to_frame
from coreclaw_frames.analysis import ANOMALY_COLUMNS
from coreclaw_frames.analysis._anomalies import MIN_GROUP_RUNS, MIN_TIMES_USUAL
from coreclaw_frames.sandbox import build_account, run_frame
from coreclaw_frames.schema import USAGE_DTYPE, empty_run_frame

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
#: The workers of the clean account: median cost (USD) and spread (sigma of the log cost).
WORKERS = {
    "jobs": (0.05, 0.3),
    "shop": (0.4, 0.5),
    "news": (1.2, 0.6),
    "maps": (3.0, 0.7),
    "social": (0.01, 0.8),
}
CLEAN_RUNS = 2000
OUTLIERS = 5
TIMES_MEDIAN = 20


def record(i: int, worker: str, cost: Decimal | str, **fields: Any) -> dict[str, Any]:
    status = fields.pop("status", "succeeded")
    final = status in ("succeeded", "failed", "aborted")
    return {
        "slug": f"run-{i:05d}",
        "status": status,
        "scraper_title": worker.title(),
        "scraper_slug": worker,
        "version": fields.pop("version", "v1.0.0"),
        "usage": str(cost),
        "started_at": T0 + 60 * i,
        "finished_at": T0 + 60 * i + 30 if final else 0,
        "duration": 30 if final else 0,
        **fields,
    }


def clean_records(seed: int) -> list[dict[str, Any]]:
    """Runs of five workers whose costs vary as real ones do: log-normal around their median,
    a few free failures and a few runs still going."""
    rng = np.random.default_rng(seed)
    names = list(WORKERS)
    records = []
    for i in range(CLEAN_RUNS):
        worker = names[rng.integers(len(names))]
        typical, sigma = WORKERS[worker]
        cost = Decimal(f"{typical * rng.lognormal(0, sigma):.6f}")
        status = rng.choice(["succeeded", "failed", "running"], p=[0.93, 0.05, 0.02])
        if status == "failed" and rng.random() < 0.4:
            cost = Decimal(0)  # a failure that cost nothing
        records.append(record(i, worker, cost, status=str(status)))
    return records


def frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    return records_to_frame(list(records))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quiet_on_clean_runs_and_every_gross_outlier_caught(seed: int) -> None:
    records = clean_records(seed)
    costs: dict[str, list[Decimal]] = {}
    for r in records:
        if r["status"] == "succeeded":
            costs.setdefault(r["scraper_slug"], []).append(Decimal(r["usage"]))
    outliers = [
        record(CLEAN_RUNS + k, worker, TIMES_MEDIAN * median(costs[worker]), slug=f"out-{k}")
        for k, worker in enumerate(list(WORKERS)[:OUTLIERS])
    ]
    found = ccf.cost_anomalies(frame([*records, *outliers]))
    flagged = set(found["slug"])
    assert {f"out-{k}" for k in range(OUTLIERS)} <= flagged
    false_alarms = len(flagged) - OUTLIERS
    assert false_alarms <= CLEAN_RUNS // 100, found  # measured: 0 to 2 over ten seeds
    assert found.attrs["too_small"] == [] and found.attrs["too_small_runs"] == 0


def test_quiet_on_the_sandbox_account() -> None:
    runs = run_frame(build_account(seed=0, runs=3000))
    for by in ("scraper_slug", "version"):
        found = ccf.cost_anomalies(runs, by=by)
        assert len(found) <= found.attrs["judged"] // 100  # measured: none
        assert found.attrs["judged"] > 2500


def test_columns_exact_money_and_order() -> None:
    records = [record(i, "shop", Decimal(100 + i) / 100) for i in range(20)]  # $1.00-$1.19
    records += [
        record(20, "shop", "5.5", slug="big"),
        record(21, "shop", "11.0000000001", slug="bigger", status="running"),
    ]
    found = ccf.cost_anomalies(frame(records))
    assert list(found.columns) == list(ANOMALY_COLUMNS)
    assert list(found["slug"]) == ["bigger", "big"]  # highest score first; not final too
    assert found["cost"].dtype == USAGE_DTYPE and found["usual_cost"].dtype == USAGE_DTYPE
    assert found["cost"].tolist() == [Decimal("11.0000000001"), Decimal("5.5")]
    # The median of the 21 final runs is the 11th: $1.10 (the running run is judged only).
    assert found["usual_cost"].tolist() == [Decimal("1.1")] * 2
    assert found["times_usual"].tolist() == pytest.approx([11.0000000001 / 1.1, 5])
    assert (found["score"] > 3.5).all()
    assert list(found["scraper_title"]) == ["Shop", "Shop"] and found["status"].iloc[0] == "running"


def test_the_usual_cost_of_an_even_group_is_the_middle_two_averaged() -> None:
    records = [record(i, "shop", Decimal(i + 1)) for i in range(12)]  # $1 to $12
    records.append(record(12, "shop", "1000", slug="big", status="running"))
    found = ccf.cost_anomalies(frame(records))
    assert found["usual_cost"].tolist() == [Decimal("6.5")]


def test_a_group_of_identical_costs_flags_only_from_three_times_usual() -> None:
    records = [record(i, "fixed", "1.00") for i in range(30)]
    extra = {"cent": "1.01", "more": "2.9999999999", "three": "3", "ten": "10"}
    records += [record(30 + i, "fixed", cost, slug=s) for i, (s, cost) in enumerate(extra.items())]
    found = ccf.cost_anomalies(frame(records))
    assert list(found["slug"]) == ["ten", "three"]
    assert found["times_usual"].min() == MIN_TIMES_USUAL


def test_groups_too_small_are_left_out_and_said_so() -> None:
    records = [record(i, "shop", "1") for i in range(30)]
    records += [record(30 + i, "rare", "1") for i in range(MIN_GROUP_RUNS - 2)]
    records += [record(40, "rare", "1000", slug="rare-big"), record(41, "free", "0")]
    found = ccf.cost_anomalies(frame(records))
    assert found.empty
    assert found.attrs["too_small"] == ["rare"]
    assert found.attrs["too_small_runs"] == MIN_GROUP_RUNS - 1
    assert found.attrs["judged"] == 30


def test_by_version_judges_each_version_apart() -> None:
    records = [record(i, "shop", "1") for i in range(40)]
    records += [record(40 + i, "shop", "30", version="v2.0.0") for i in range(12)]
    records += [record(60, "shop", "40", version="v2.0.0", slug="v2-dear")]
    by_worker = ccf.cost_anomalies(frame(records))
    assert len(by_worker) == 13  # the dearer version stands out against the worker
    by_version = ccf.cost_anomalies(frame(records), by="version")
    assert by_version.empty  # each version is as usual for itself
    records.append(record(61, "shop", "300", version="v2.0.0", slug="v2-far"))
    assert list(ccf.cost_anomalies(frame(records), by="version")["slug"]) == ["v2-far"]
    small = [record(i, "shop", "1", version=f"v{i}") for i in range(20)]
    assert ccf.cost_anomalies(frame(small), by="version").attrs["too_small"][:2] == [
        ("shop", "v0"),
        ("shop", "v1"),
    ]


def test_an_empty_frame_gives_an_empty_table_with_the_columns() -> None:
    found = ccf.cost_anomalies(empty_run_frame())
    assert found.empty and list(found.columns) == list(ANOMALY_COLUMNS)
    assert found["cost"].dtype == USAGE_DTYPE and found["score"].dtype == np.float64
    assert found.attrs == {"too_small": [], "too_small_runs": 0, "judged": 0, "fetch_failed": 0}
    assert "Empty" in repr(found)


def test_fetch_failures_are_left_out_and_counted() -> None:
    records = [record(i, "shop", "1") for i in range(20)]
    records.append(record(20, "shop", "500", slug="lost", fetch_error="HTTP 500"))
    found = ccf.cost_anomalies(frame(records))
    assert found.empty and found.attrs["fetch_failed"] == 1


def test_unknown_costs_are_not_judged() -> None:
    runs = frame([record(i, "shop", "1") for i in range(20)])
    runs.loc[0, "usage"] = None
    found = ccf.cost_anomalies(runs)
    assert found.attrs["judged"] == 19


def test_the_table_reads_as_money() -> None:
    records = [record(i, "shop", "0.5") for i in range(20)] + [record(20, "shop", "12.5")]
    with pd.option_context("display.width", 250, "display.max_columns", None):
        text = repr(ccf.cost_anomalies(frame(records)))
    assert "$12.5000" in text and "$0.5000" in text and "25.0×" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"by": "origin"}, ValueError, "by must be one of 'scraper_slug', 'scraper_title'"),
        ({"by": None}, ValueError, "got None"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        ccf.cost_anomalies(empty_run_frame(), **kwargs)


def test_bad_data() -> None:
    with pytest.raises(TypeError, match="run frame"):
        ccf.cost_anomalies({"usage": []})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing the required column"):
        ccf.cost_anomalies(empty_run_frame().drop(columns="version"))
    floats = frame([record(0, "shop", "1")]).assign(usage=[1.0])
    with pytest.raises(TypeError, match="exact decimals"):
        ccf.cost_anomalies(floats)


def test_the_accessor_finds_the_same_runs() -> None:
    runs = frame([record(i, "shop", "1") for i in range(20)] + [record(20, "shop", "9")])
    pd.testing.assert_frame_equal(runs.coreclaw.cost_anomalies(), ccf.cost_anomalies(runs))
