"""Totals per period: exact sums, the cost of runs not final apart, the current period marked."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames._records import records_to_frame
from coreclaw_frames.analysis import MONEY_DTYPE, PERIOD_COLUMNS, final_mask, period_totals
from coreclaw_frames.display import ReadableFrame
from coreclaw_frames.sandbox import build_account, run_frame

NOW = "2026-03-16"  # the sandbox account's default clock
JAN, FEB, MAR = 1_767_225_600, 1_769_904_000, 1_772_323_200  # first seconds of 2026's months


def run(status: str, started: int, usage: str, **fields: Any) -> dict[str, Any]:
    finished = 0 if status in ("running", "aborting") else started + 60
    record = {
        "slug": f"{status}-{started}-{usage}",
        "status": status,
        "scraper_title": "W",
        "scraper_slug": "W",
        "version": "v1",
        "results": 10,
        "usage": usage,
        "traffic": 1024,
        "started_at": started,
        "finished_at": finished,
        "duration": finished - started if finished else 0,
    }
    record.update(fields)
    return record


@pytest.fixture(scope="module")
def sandbox_frame() -> pd.DataFrame:
    return run_frame(build_account(seed=0, runs=3000))


def exact(values: Any) -> Decimal:
    return sum((v for v in values if not pd.isna(v)), Decimal(0))


def test_monthly_totals_by_hand() -> None:
    frame = records_to_frame(
        [
            run("succeeded", JAN + 10, "1.0000000001"),
            run("failed", JAN + 20, "0.5"),
            # nothing in February
            run("succeeded", MAR + 10, "2"),
            run("aborted", MAR + 20, "0.25"),
            run("running", MAR + 30, "0.125"),
            run("aborting", MAR + 40, "0.0625"),  # being aborted: aborted and not final
            run("ready", 0, "0", finished_at=0),
        ]
    )
    table = period_totals(frame, now=MAR + 100)
    assert tuple(table.columns) == PERIOD_COLUMNS
    assert [str(p) for p in table.index] == ["2026-01", "2026-02", "2026-03"]
    assert table.index.name == "month"
    assert table["runs"].tolist() == [2, 0, 4]
    assert table["total_cost"].tolist() == [
        Decimal("1.5000000001"),
        Decimal(0),
        Decimal("2.4375"),
    ]
    assert table["failed_cost"].tolist() == [Decimal("0.5"), Decimal(0), Decimal(0)]
    assert table["aborted_cost"].tolist()[-1] == Decimal("0.3125")
    assert table["in_progress_cost"].tolist() == [Decimal(0), Decimal(0), Decimal("0.1875")]
    assert table["complete"].tolist() == [True, True, False]
    assert table["traffic"].tolist() == [2048, 0, 4096]
    assert table.attrs == {"fetch_failed": 0, "not_started": 1}
    assert isinstance(table, ReadableFrame)
    for column in ("total_cost", "failed_cost", "aborted_cost", "in_progress_cost"):
        assert table[column].dtype == MONEY_DTYPE


def test_monthly_totals_equal_exact_decimal_sums(sandbox_frame: pd.DataFrame) -> None:
    table = ccf.period_totals(sandbox_frame, now=NOW)
    started = sandbox_frame[sandbox_frame["started_at"].notna()]
    month = started["started_at"].dt.tz_localize(None).dt.to_period("M")
    status = started["status"]
    not_final = ~final_mask(started)
    for period, row in table.iterrows():
        here = month == period
        assert row["runs"] == here.sum()
        assert row["total_cost"] == exact(started.loc[here, "usage"])
        assert row["failed_cost"] == exact(started.loc[here & (status == "failed"), "usage"])
        aborted = here & status.isin(["aborting", "aborted"])
        assert row["aborted_cost"] == exact(started.loc[aborted, "usage"])
        assert row["in_progress_cost"] == exact(started.loc[here & not_final, "usage"])
        assert row["traffic"] == started.loc[here, "traffic"].sum()
    assert exact(table["total_cost"]) == exact(started["usage"])
    assert table["complete"].tolist() == [True] * (len(table) - 1) + [False]


def test_the_current_period_follows_now(sandbox_frame: pd.DataFrame) -> None:
    later = period_totals(sandbox_frame, now="2026-04-02")
    assert later["complete"].all()  # March is over by April
    weekly = period_totals(sandbox_frame, "W", now=NOW)
    # 2026-03-16 is a Monday: the week of the 9th ends exactly at now and is complete.
    assert str(weekly.index[-1]) == "2026-03-09/2026-03-15"
    assert weekly["complete"].iloc[-1]
    assert not period_totals(sandbox_frame, "W", now="2026-03-15 23:00")["complete"].iloc[-1]
    daily = period_totals(sandbox_frame, "D", now=pd.Timestamp(NOW, tz="Asia/Shanghai"))
    assert not daily["complete"].iloc[-1]  # 2026-03-16 00:00+08:00 is still the 15th in UTC
    assert sandbox_frame.coreclaw.period_totals("W", now=NOW).equals(weekly)


def test_now_accepts_unix_seconds_and_defaults_to_the_clock(sandbox_frame: pd.DataFrame) -> None:
    in_seconds = period_totals(sandbox_frame, now=1_773_619_200)
    pd.testing.assert_frame_equal(in_seconds, period_totals(sandbox_frame, now=NOW))
    assert period_totals(sandbox_frame)["complete"].all()  # the machine's clock is later


def test_empty_and_unstarted_frames() -> None:
    empty = period_totals(records_to_frame([]), now=NOW)
    assert empty.empty and tuple(empty.columns) == PERIOD_COLUMNS
    ready = period_totals(records_to_frame([run("ready", 0, "0", finished_at=0)]), now=NOW)
    assert ready.empty and ready.attrs["not_started"] == 1


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"freq": "H"}, ValueError, r"freq must be one of"),
        ({"now": "not a time"}, ValueError, "now must be"),
        ({"now": True}, ValueError, "now must be"),
    ],
)
def test_bad_input(
    sandbox_frame: pd.DataFrame, options: dict[str, Any], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        period_totals(sandbox_frame, **options)
