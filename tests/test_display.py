"""How values look: formatters, CSV preparation, and the readable summary tables."""

import io
import re
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

import coreclaw_frames._accessor  # noqa: F401  (registers df.coreclaw)
from coreclaw_frames import display
from coreclaw_frames.analysis import summary, version_regressions
from coreclaw_frames.display import ReadableFrame, csv_frame
from coreclaw_frames.sandbox import build_account, run_frame

#: A number in exponent notation (not the letters and digits of a run slug).
EXPONENT = re.compile(r"(?<![\w.])\d+(\.\d+)?[eE][-+]?\d+\b")


@pytest.fixture(scope="module")
def table():
    return summary(run_frame(build_account(seed=2, runs=1500)), by="scraper_title")


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (Decimal("1234.5678"), 2, "$1,234.57"),
        (Decimal("0E-10"), 2, "$0.00"),
        (Decimal("0.00005"), 4, "$0.0000"),  # half-even
        (Decimal("0.00015"), 4, "$0.0002"),
        (None, 2, "–"),
        (pd.NA, 2, "–"),
    ],
)
def test_usd(value, places, text):
    assert display.usd(value, places) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0E-10"), "0"),
        (Decimal("0.0217000000"), "0.0217"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0"), "0"),
        (Decimal("123456.7890123456"), "123456.7890123456"),
        (None, ""),
    ],
)
def test_plain_is_exact_and_never_scientific(value, text):
    assert display.plain(value) == text
    if value is not None:
        assert Decimal(display.plain(value)) == value


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00:00"), (59, "0:00:59"), (336, "0:05:36"), (90061, "25:01:01")]
)
def test_duration_is_h_mm_ss(seconds, text):
    assert display.duration(pd.Timedelta(seconds=seconds)) == text


def test_csv_frame_writes_money_plainly_and_reads_back_exactly():
    money = pd.array(
        [Decimal("0E-10"), Decimal("0.0000001"), None], pd.ArrowDtype(pa.decimal128(18, 10))
    )
    df = pd.DataFrame({"usage": money, "duration": pd.to_timedelta([5, 3600, None], unit="s")})
    text = csv_frame(df).to_csv(index=False)
    assert not EXPONENT.search(text)
    back = pd.read_csv(io.StringIO(text), converters={"usage": lambda v: Decimal(v) if v else None})
    assert back["usage"].tolist()[:2] == [Decimal(0), Decimal("0.0000001")]
    assert back["duration"].tolist()[:2] == ["0:00:05", "1:00:00"]
    assert df["usage"].dtype == money.dtype  # the frame itself is untouched


def test_summary_is_readable_everywhere_and_exact_underneath(table):
    assert isinstance(table, ReadableFrame) and isinstance(table, pd.DataFrame)
    total = table["total_cost"].iloc[0]
    assert isinstance(total, Decimal)
    with pd.option_context("display.width", 400, "display.max_columns", 50):
        printed = repr(table)
    html = table._repr_html_()
    for text in (printed, html):
        assert "$" in text and "%" in text and not EXPONENT.search(text)
        assert display.usd(total) in text
        assert re.search(r"\b\d+:\d\d:\d\d\b", text)  # durations as h:mm:ss
        assert "GiB" in text or "MiB" in text
    csv = table.to_csv()
    assert not EXPONENT.search(csv) and display.plain(total) in csv
    assert re.search(r",\d+:\d\d:\d\d,", csv)


def test_derived_tables_stay_readable(table):
    assert isinstance(table.head(2), ReadableFrame)
    assert "$" in repr(table.loc[table.index[:1], ["total_cost"]])


def test_regressions_are_readable_too():
    regressions = version_regressions(run_frame(build_account(seed=0, runs=3000)), min_runs=5)
    assert isinstance(regressions, ReadableFrame)
    assert not regressions.empty
    with pd.option_context("display.width", 400, "display.max_columns", 50):
        assert re.search(r"[+-]\d+\.\d%", repr(regressions.head()))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1457.3525251680"), "$1,457.352525168"),
        (Decimal("1234567.0000000001"), "$1,234,567.0000000001"),
        (Decimal("0E-10"), "$0"),
        (Decimal("1E+3"), "$1,000"),
        (None, "–"),
    ],
)
def test_usd_exact_keeps_every_digit_with_separators(value, text):
    assert display.usd_exact(value) == text


def test_change_says_n_a_without_a_baseline():
    assert display.change(0.1) == "+10.0%"
    assert display.change(-0.05) == "-5.0%"
    assert display.change(pd.NA) == display.change(None) == "n/a"


def test_missing_values_show_as_their_formatter_says():
    frame = ReadableFrame(
        {
            "cost_change": pd.array([0.25, None], dtype="Float64"),
            "total_cost": pd.array([Decimal("1.5"), None], pd.ArrowDtype(pa.decimal128(38, 10))),
            "note": ["a", None],
        }
    )
    printed = repr(frame)
    assert "+25.0%" in printed and "n/a" in printed and "$1.50" in printed
    assert "<NA>" not in printed.split("note")[0]  # formatted columns never print <NA>
    html = frame._repr_html_()
    assert "n/a" in html and "–" in html
    assert frame["total_cost"].isna().sum() == 1  # the values themselves are untouched


def test_a_run_frame_reads_well():
    runs = run_frame(build_account(seed=0, runs=200))
    finished = runs[runs["status"] == "succeeded"].head()
    with pd.option_context("display.width", 400, "display.max_columns", 50):
        printed = repr(finished.coreclaw.readable())
    assert not EXPONENT.search(printed)
    assert re.search(r"\$\d+\.\d{4}", printed)  # costs in dollars
    assert re.search(r"\b\d+:\d\d:\d\d\b", printed)  # durations as h:mm:ss
    assert "NaT" not in printed


def test_a_long_frame_shows_only_its_first_rows_in_jupyter():
    runs = run_frame(build_account(seed=0, runs=500)).coreclaw.readable()
    with pd.option_context("display.max_rows", 60, "display.min_rows", 10):
        html = runs._repr_html_()
    assert html.count("<tr>") < 20


SCRIPT_TITLE = "<img src=x onerror=alert(1)>"


def hostile_frame():
    frame = run_frame(build_account(seed=0, runs=300))
    titles = frame["scraper_title"].where(frame.index % 2 == 1, SCRIPT_TITLE)
    return frame.assign(scraper_title=titles)


@pytest.mark.parametrize(
    "show",
    [
        lambda df: df.coreclaw.summary(),
        lambda df: df.coreclaw.summary(by=["scraper_title", "status"]),
        lambda df: df.coreclaw.failure_costs(),
        lambda df: df.coreclaw.period_totals(now="2026-03-16").rename_axis(SCRIPT_TITLE),
        lambda df: df.coreclaw.readable().head(),
    ],
    ids=["summary", "summary by two", "failure_costs", "period_totals", "readable"],
)
def test_titles_from_the_data_are_escaped_in_jupyter(show):
    table = show(hostile_frame())
    html = table._repr_html_()
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown as written
