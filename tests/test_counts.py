"""Totals of counts (results, traffic) are exact, or refused by name: they never wrap around."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames._records import records_to_frame
from coreclaw_frames.analysis import period_totals, summary, version_regressions

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
INT64_MAX = 2**63 - 1
BIG = 2**62  # within int64, beyond any run's plausible traffic: only a hand-built frame has it


def frame_with(traffic: list[int], results: list[int] | None = None) -> pd.DataFrame:
    """Runs of one worker holding ``traffic`` (and ``results``), set after the records are read
    (as in a frame built by hand or read from another file)."""
    records = [
        {
            "slug": f"RUN{i}",
            "status": "succeeded",
            "scraper_title": "Big",
            "scraper_slug": "big~worker",
            "version": "v1",
            "usage": "1",
            "results": 1,
            "traffic": 1,
            "started_at": T0 + i,
            "finished_at": T0 + i + 60,
            "duration": 60,
        }
        for i in range(len(traffic))
    ]
    frame = records_to_frame(records)
    frame["traffic"] = pd.array(traffic, dtype="Int64")
    if results is not None:
        frame["results"] = pd.array(results, dtype="Int64")
    return frame


def test_int64_would_wrap_these_sums():
    # What the tests below guard against: pandas sums Int64 in int64.
    assert frame_with([BIG, BIG - 1, BIG])["traffic"].sum() < 0


@pytest.mark.parametrize(
    "table",
    [
        lambda df: summary(df)["traffic"],
        lambda df: period_totals(df, now="2026-03-16")["traffic"],
    ],
    ids=["summary", "period_totals"],
)
def test_totals_that_fit_are_exact_even_where_int64_sums_wrap(table):
    frame = frame_with([BIG, BIG - 1, BIG, -BIG])  # int64 wraps, then wraps back
    assert table(frame).tolist() == [2 * BIG - 1]
    frame = frame_with([BIG, BIG - 1])  # the largest total there is
    assert table(frame).tolist() == [INT64_MAX]


@pytest.mark.parametrize(
    ("call", "caller", "column"),
    [
        (lambda df: summary(df), "summary", "traffic"),
        (lambda df: df.coreclaw.summary(by="version"), "summary", "traffic"),
        (lambda df: period_totals(df, now="2026-03-16"), "period_totals", "traffic"),
        (lambda df: version_regressions(df, min_runs=1), "version_regressions", "traffic"),
    ],
    ids=["summary", "summary by version", "period_totals", "version_regressions"],
)
def test_a_total_beyond_int64_is_refused_naming_its_column(call, caller, column):
    frame = frame_with([BIG, BIG, BIG])
    with pytest.raises(OverflowError, match=rf"^{caller}: the total of {column} is 13,835"):
        call(frame)


def test_results_totals_are_refused_too():
    frame = frame_with([1, 1], results=[BIG, BIG])
    with pytest.raises(OverflowError, match=r"^summary: the total of results"):
        summary(frame)


@pytest.mark.usefixtures("charts_without_pixels")
def test_the_report_shows_exact_totals_and_refuses_what_no_int64_holds(tmp_path: Path):
    fits = frame_with([BIG, BIG - 1])
    path = ccf.cost_report(fits, tmp_path / "fits.html", now="2026-03-16")
    text = path.read_text(encoding="utf-8")
    assert f"{INT64_MAX:,} B" in text  # the traffic card, exactly
    with pytest.raises(OverflowError, match=r"^cost_report: the total of traffic"):
        ccf.cost_report(frame_with([BIG, BIG]), tmp_path / "wraps.html", now="2026-03-16")
    assert not (tmp_path / "wraps.html").exists()


def test_a_frame_read_back_from_parquet_keeps_its_totals_exact(tmp_path: Path):
    path = ccf.to_parquet(frame_with([BIG, BIG - 1]), tmp_path / "big.parquet")
    assert summary(ccf.read_parquet(path))["traffic"].tolist() == [INT64_MAX]


def test_count_total_skips_missing_values_and_refuses_what_is_not_a_count():
    from coreclaw_frames.analysis._counts import count_total

    assert count_total(pd.Series([1, None, 2], dtype="Int64"), "results", "f") == 3
    with pytest.raises(TypeError, match=r"f: results must be integers \(Int64\), got dtype"):
        count_total(pd.Series([1.5]), "results", "f")
