"""The HTML cost report: its sections and figures, escaping, offline, layout, edge cases."""

from __future__ import annotations

import base64
import html
import io
import re
import struct
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import PIL.Image
import pytest
from conftest import ONE_PIXEL_PNG
from figure_layout import assert_layout
from markupsafe import escape
from matplotlib.figure import Figure

import coreclaw_frames as ccf
import coreclaw_frames._accessor
import coreclaw_frames.report._charts as report_charts
from coreclaw_frames import AccountInfo
from coreclaw_frames import report as report_module
from coreclaw_frames._records import records_to_frame
from coreclaw_frames.analysis import final_mask
from coreclaw_frames.analysis._money import money
from coreclaw_frames.api._v1 import V1
from coreclaw_frames.display import usd
from coreclaw_frames.parquet import to_parquet
from coreclaw_frames.report import cost_report
from coreclaw_frames.report._charts import CSS_PX_PER_INCH, PIXEL_RATIO
from coreclaw_frames.sandbox import build_account, run_frame
from coreclaw_frames.schema import STRING_DTYPE, USAGE_DTYPE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
NOW = "2026-03-16"  # the sandbox account's clock
SECTIONS = (
    "Outlook",
    "Headline totals",
    "Monthly totals",
    "Cost by worker",
    "Cost by worker and version",
    "Failed and aborted runs by worker",
    "Charts",
    "Version regressions",
)
#: Charts in the report (the outlook's, then the four of the Charts section); each is
#: embedded twice (wide, and narrow for phones).
CHARTS = 5
IMAGE_RE = re.compile(
    r'(?:src|srcset)="data:image/png;base64,([A-Za-z0-9+/=]+)" '
    r'width="(\d+)" height="(\d+)"'
)


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return run_frame(build_account(seed=0, runs=3000), api_version="v1")


@pytest.fixture(scope="module")
def report(runs: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The report's HTML, its charts one pixel each (see ``charts_without_pixels``): built
    once per test process, by every process that runs a test of this file."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_charts, "encode", lambda figure: ONE_PIXEL_PNG)
        path = cost_report(runs, tmp_path_factory.mktemp("report") / "r.html", now=NOW)
    return path.read_text(encoding="utf-8")


@pytest.fixture
def drawn_report(runs: pd.DataFrame, tmp_path: Path) -> str:
    """The report with its charts drawn, for the tests of the images themselves."""
    return cost_report(runs, tmp_path / "r.html", now=NOW).read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The HTML of the section whose heading is ``heading``, up to the next section."""
    return text.split(f"<h2>{heading}</h2>", 1)[1].split("</section>", 1)[0]


def cells(fragment: str) -> list[str]:
    """The text of every table cell of ``fragment``, unescaped."""
    return [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", fragment)]


def rows(fragment: str) -> list[list[str]]:
    body = fragment.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [cells(row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.DOTALL)]


def exact(values: Any) -> Decimal:
    return sum((v for v in values if not pd.isna(v)), Decimal(0))


@pytest.mark.usefixtures("charts_without_pixels")
def test_returns_the_path_and_creates_parents(runs: pd.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "costs.html"
    written = cost_report(runs.head(50), str(target))
    assert written == target
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_sections_come_in_the_order_a_finance_reader_wants(report: str) -> None:
    positions = [report.index(f"<h2>{heading}</h2>") for heading in SECTIONS]
    assert positions == sorted(positions)


def test_headline_totals_show_the_exact_total_as_money(runs: pd.DataFrame, report: str) -> None:
    totals = section(report, "Headline totals")
    total = exact(runs["usage"])
    assert f"${total:,.2f}" in totals  # $2,350.22
    assert f"exactly ${total.normalize():,f}" in totals  # every digit, thousands separated
    wasted = exact(runs.loc[runs["status"].isin(["failed", "aborting", "aborted"]), "usage"])
    assert f"${wasted:,.2f}" in totals
    assert f"{float(wasted / total):.1%} of the cost" in totals
    going = exact(runs.loc[~final_mask(runs), "usage"])
    assert f"${going:,.2f}" in totals
    assert f">{len(runs):,}<" in totals
    assert f">{int(runs['results'].sum()):,}<" in totals
    assert f"{int(runs['traffic'].sum()):,} B" in totals


def test_monthly_totals_are_exact_and_mark_the_month_not_over(
    runs: pd.DataFrame, report: str
) -> None:
    monthly = section(report, "Monthly totals")
    table = rows(monthly)
    started = runs[runs["started_at"].notna()]
    months = started["started_at"].dt.tz_localize(None).dt.to_period("M")
    assert [row[0] for row in table] == [
        *(str(m) for m in sorted(months.unique())[:-1]),
        "2026-03 (so far)",
    ]
    assert monthly.count('class="incomplete"') == 1
    for row in table:
        here = started[months == pd.Period(row[0].split()[0], "M")]
        lost = exact(here.loc[here["status"].isin(["failed", "aborting", "aborted"]), "usage"])
        assert row[1] == f"${exact(here['usage']):,.2f}"
        assert row[2] == f"{len(here):,}"
        assert row[3] == f"${lost:,.2f}"
        assert row[4] == f"${exact(here.loc[~final_mask(here), 'usage']):,.2f}"
    footer = cells(monthly.split("<tfoot>", 1)[1])
    assert footer[:3] == ["All months", f"${exact(started['usage']):,.2f}", f"{len(started):,}"]


def test_cost_by_worker_puts_the_cost_next_to_the_name(runs: pd.DataFrame, report: str) -> None:
    table = rows(section(report, "Cost by worker"))
    costs = runs.groupby("scraper_title")["usage"].agg(exact)
    assert [row[0] for row in table] == list(costs.sort_values(ascending=False).index)
    for row in table:
        assert row[1] == f"${costs[row[0]]:,.2f}"


def test_two_workers_v1_0_0_stay_apart(report: str) -> None:
    fragment = section(report, "Cost by worker and version")
    workers_with_v100 = [
        worker
        for worker, versions in re.findall(
            r'rowspan="\d+">([^<]+)</td>(.*?)(?=rowspan=|</tbody>)', fragment, flags=re.DOTALL
        )
        if ">v1.0.0<" in versions
    ]
    assert sorted(workers_with_v100) == [
        "Job Board Listings",
        "Review Aggregator",
        "Social Profile Scraper",
    ]
    news = fragment.split("News Collection 20260305</td>", 1)[1].split("rowspan=", 1)[0]
    assert news.index(">v1.0.9<") < news.index(">v1.0.10<")


def test_failed_and_aborted_spend_by_worker(runs: pd.DataFrame, report: str) -> None:
    fragment = section(report, "Failed and aborted runs by worker")
    wasted = runs[runs["status"].isin(["failed", "aborting", "aborted"])]
    by_worker = wasted.groupby("scraper_title")["usage"].agg(exact)
    for row in rows(fragment):
        assert row[1] == f"${by_worker[row[0]]:,.2f}"
    footer = cells(fragment.split("<tfoot>", 1)[1])
    assert footer[1] == f"${exact(wasted['usage']):,.2f}"


def test_regressions_state_the_rule(report: str) -> None:
    fragment = " ".join(section(report, "Version regressions").split())
    assert "more than 10% above" in fragment
    assert "at least 20 of them" in fragment
    assert "n/a" in fragment


@pytest.mark.usefixtures("charts_without_pixels")
def test_report_lists_a_regression_and_never_a_sparse_one(tmp_path: Path) -> None:
    base = {"status": "succeeded", "scraper_title": "Alpha", "scraper_slug": "alpha"}
    base |= {"results": 1000, "usage": "1.00", "traffic": 0, "started_at": T0}
    records = [
        {**base, "slug": f"a{i}", "version": "v1.0.9", "finished_at": T0 + 100, "duration": 100}
        for i in range(20)
    ] + [
        {**base, "slug": f"b{i}", "version": "v1.0.10", "finished_at": T0 + 150, "duration": 150}
        for i in range(20)
    ]
    sparse = [
        {**base, "slug": f"c{i}", "version": "v1.1.0", "usage": "900", "duration": 9000}
        | {"finished_at": T0 + 9000}
        for i in range(2)
    ]
    text = cost_report(records_to_frame(records + sparse), tmp_path / "r.html")
    fragment = section(text.read_text(encoding="utf-8"), "Version regressions")
    assert "v1.0.9 → v1.0.10" in fragment
    assert '<td class="num flag">+50.0%</td>' in fragment
    assert "v1.1.0" not in fragment.split("<table>", 1)[1]


@pytest.mark.usefixtures("charts_without_pixels")
def test_a_flagged_change_never_reads_as_exactly_the_threshold(tmp_path: Path) -> None:
    base = {"status": "succeeded", "scraper_title": "Alpha", "scraper_slug": "alpha"}
    base |= {"results": 1000, "traffic": 0, "started_at": T0, "finished_at": T0 + 60}
    records = [
        {**base, "slug": f"{v}-{i}", "version": v, "usage": usage, "duration": 60}
        for v, usage in (("v1", "1.00"), ("v2", "1.1004"))
        for i in range(20)
    ]
    text = cost_report(records_to_frame(records), tmp_path / "r.html").read_text("utf-8")
    fragment = section(text, "Version regressions")
    assert '<td class="num flag">+10.04%</td>' in fragment  # not "+10.0%", which is not flagged


def test_report_is_offline_and_self_contained(report: str) -> None:
    assert "http://" not in report and "https://" not in report
    assert not re.search(r"(?:src|href|srcset)=\"(?!data:)", report)
    assert "<script" not in report and "<link" not in report
    assert "@import" not in report and "url(" not in report
    images = IMAGE_RE.findall(report)
    assert len(images) == 2 * CHARTS
    assert all(base64.b64decode(data).startswith(PNG_SIGNATURE) for data, _, _ in images)


def png_size(data: str) -> tuple[int, int]:
    width, height = struct.unpack(">II", base64.b64decode(data)[16:24])
    return width, height


def test_images_hold_twice_the_pixels_they_show(drawn_report: str) -> None:
    report = drawn_report
    for data, width, height in IMAGE_RE.findall(report):
        assert png_size(data) == (PIXEL_RATIO * int(width), PIXEL_RATIO * int(height))
        image = PIL.Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
        assert image.getpixel((0, 0)) == (255, 255, 255)  # white as the page, not a shade off
    narrow = re.findall(r'<source media="\(max-width: (\d+)px\)"[^>]*width="(\d+)"', report)
    assert len(narrow) == CHARTS
    assert all(int(width) <= int(screen) - 16 for screen, width in narrow)  # phone-wide


def test_css_keeps_numbers_on_one_line_and_tables_in_their_box(report: str) -> None:
    css = report.split("<style>", 1)[1].split("</style>", 1)[0]
    assert re.search(r"\.num \{[^}]*white-space: nowrap", css)
    assert re.search(r"\.scroll \{[^}]*overflow-x: auto", css)
    assert re.search(r"\.sticky \{[^}]*position: sticky", css)
    assert re.search(r"figure img \{[^}]*width: 100%", css)
    assert re.search(r"@media \(max-width: \d+px\)", css)
    assert report.count('<div class="scroll">') == report.count("<table>")
    for heading in ("Monthly totals", "Cost by worker", "Cost by worker and version"):
        headers = re.findall(r"<th[^>]*>([^<]*)</th>", section(report, heading))
        assert "Cost" in headers[:3]  # in view on a phone without scrolling sideways


def figures_of(
    frame: pd.DataFrame,
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    now: str = NOW,
    **options: Any,
) -> list[Figure]:
    """The figures ``cost_report`` draws, wide and narrow in turn: the outlook's first."""
    charts: list[Figure] = []

    class RecordedFigure(Figure):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            charts.append(self)

    monkeypatch.setattr(report_charts, "Figure", RecordedFigure)
    cost_report(frame, path, now=now, **options)
    return charts


@pytest.mark.usefixtures("charts_without_pixels")
@pytest.mark.parametrize("seed", [0, 1])
def test_no_chart_text_is_clipped_or_overlaps(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = run_frame(build_account(seed=seed, runs=3000))
    info = AccountInfo(Decimal("1234567.89"), pd.Timestamp("2027-03-16", tz="UTC"), None, pd.NaT)
    charts = figures_of(frame, tmp_path / "r.html", monkeypatch, balance=info, budget=9_999_999)
    assert len(charts) == 2 * CHARTS
    for chart in charts:
        assert_layout(chart, dpi=CSS_PX_PER_INCH * PIXEL_RATIO)


@pytest.mark.usefixtures("charts_without_pixels")
def test_in_progress_cost_is_marked_in_the_time_chart(
    runs: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    charts = figures_of(runs, tmp_path / "r.html", monkeypatch, now="2026-03-15 12:00")
    over_time = charts[4].axes[0]
    assert any(p.get_hatch() for p in over_time.patches)
    legend = over_time.get_legend()
    assert legend is not None
    assert {"not final yet", "this week so far"} <= {t.get_text() for t in legend.get_texts()}


@pytest.mark.usefixtures("charts_without_pixels")
def test_data_strings_are_escaped(runs: pd.DataFrame, tmp_path: Path) -> None:
    nasty = '<script>alert("x")</script> & <b>Co</b>'
    frame = runs.head(30).assign(
        scraper_title=pd.Series([nasty] * 30, dtype=runs["scraper_title"].dtype),
        version=pd.Series(["<i>v1</i>"] * 30, dtype=runs["version"].dtype),
    )
    text = cost_report(frame, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>" not in text and "<b>Co</b>" not in text and "<i>v1</i>" not in text
    assert str(escape(nasty)) in text and "&lt;i&gt;v1&lt;/i&gt;" in text


def test_the_template_is_package_data() -> None:
    from importlib import resources

    template = resources.files("coreclaw_frames.report").joinpath(report_module.TEMPLATE)
    assert "{% macro table" in template.read_text(encoding="utf-8")


@pytest.mark.usefixtures("charts_without_pixels")
def test_fetch_failures_are_counted(runs: pd.DataFrame, tmp_path: Path) -> None:
    failed = records_to_frame([{"slug": f"F{i}", "fetch_error": "HTTP 404"} for i in range(3)])
    frame = pd.concat([runs.head(20), failed], ignore_index=True)
    text = cost_report(frame, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "3 row(s) whose fetch failed are left out" in text
    assert ">20<" in text  # the run count excludes them


@pytest.mark.usefixtures("charts_without_pixels")
def test_report_from_a_parquet_file(runs: pd.DataFrame, tmp_path: Path) -> None:
    source = to_parquet(runs.head(60), tmp_path / "runs.parquet")
    from_file = cost_report(source, tmp_path / "from_file.html", now=NOW).read_text("utf-8")
    from_frame = cost_report(runs.head(60), tmp_path / "from_frame.html", now=NOW).read_text(
        "utf-8"
    )
    total = exact(runs.head(60)["usage"])
    assert f"exactly ${total.normalize():,f}" in from_file
    assert from_file == from_frame


@pytest.mark.usefixtures("charts_without_pixels")
@pytest.mark.usefixtures("charts_without_pixels")
def test_accessor_writes_the_report(runs: pd.DataFrame, tmp_path: Path) -> None:
    path = runs.head(40).coreclaw.cost_report(tmp_path / "acc.html", now=NOW)
    assert path.exists() and "CoreClaw cost report" in path.read_text(encoding="utf-8")


@pytest.mark.usefixtures("charts_without_pixels")
def test_report_leaves_pyplot_alone(runs: pd.DataFrame, tmp_path: Path) -> None:
    cost_report(runs.head(40), tmp_path / "r.html")
    assert plt.get_fignums() == []  # charts are drawn on standalone figures


@pytest.mark.parametrize(
    ("data", "path", "options", "error", "message"),
    [
        ([{"slug": "x"}], "out.html", {}, TypeError, "must be a pandas DataFrame"),
        (pd.DataFrame({"slug": ["x"]}), "out.html", {}, ValueError, "missing the required"),
        (None, 42, {}, TypeError, "path must be"),
        (None, "out.html", {"now": "tomorrow-ish"}, ValueError, "now must be"),
        (None, "out.html", {"budget": "lots"}, ValueError, "cost_report: budget must be"),
        (None, "out.html", {"budget": -1}, ValueError, "budget must not be negative"),
        (None, "out.html", {"balance": [1]}, TypeError, "cost_report: balance must be"),
    ],
)
def test_bad_input(
    runs: pd.DataFrame,
    tmp_path: Path,
    data: Any,
    path: Any,
    options: dict[str, Any],
    error: type,
    message: str,
) -> None:
    target = path if not isinstance(path, str) else tmp_path / path
    with pytest.raises(error, match=message):
        cost_report(runs if data is None else data, target, **options)
    assert list(tmp_path.iterdir()) == []


def edge_frames() -> dict[str, pd.DataFrame]:
    records = [V1.canonical_run(r) for r in build_account(seed=1, runs=600).runs]
    finished = records_to_frame([r for r in records if r["status"] == "succeeded"][:20])
    titles = pd.Series([f"Worker {i % 300:03d}" for i in range(len(records))])
    every = records_to_frame(records)
    return {
        "empty": records_to_frame([]),
        "all-failed": records_to_frame(
            [{"slug": r["slug"], "fetch_error": "HTTP 500"} for r in records[:10]]
        ),
        "single": finished.assign(
            scraper_title=pd.Series(["Solo"] * 20, dtype=STRING_DTYPE),
            scraper_slug=pd.Series(["solo~worker"] * 20, dtype=STRING_DTYPE),
        ),
        # A fetched record must have a cost, so unknown costs are set in the frame.
        "na-costs": finished.assign(usage=pd.Series([None] * 20, dtype=USAGE_DTYPE)),
        "300-groups": every.assign(
            scraper_title=titles.astype(STRING_DTYPE),
            scraper_slug=("w~" + titles.str.slice(-3)).astype(STRING_DTYPE),
        ),
    }


@pytest.mark.usefixtures("charts_without_pixels")
@pytest.mark.parametrize("name", ["empty", "all-failed", "single", "na-costs", "300-groups"])
def test_edge_cases_render(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = edge_frames()[name]
    charts = figures_of(frame, tmp_path / "r.html", monkeypatch)
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert len(IMAGE_RE.findall(text)) == 2 * CHARTS
    for chart in charts:
        assert_layout(chart, dpi=CSS_PX_PER_INCH * PIXEL_RATIO)
    if name in ("empty", "all-failed"):
        assert "No runs." in text and "No started runs" in text
        assert "$0.00" in text
    if name == "all-failed":
        assert "10 row(s) whose fetch failed" in text
    if name == "single":
        assert text.count(">Solo</td>") == 3  # by worker, by version, failed spend
    if name == "na-costs":
        assert "20 run(s) have no known cost" in text
    if name == "300-groups":
        titles = set(frame["scraper_title"].dropna())
        assert len(titles) == 300
        assert all(f">{title}</td>" in text for title in titles)


@pytest.mark.usefixtures("charts_without_pixels")
def test_dollar_signs_in_titles_are_drawn_literally(
    runs: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    titles = ["Price $ tracker", "$5 deals $", "Deals $^$ today", "A $x_$ title longer than a tick"]
    frame = runs.head(200).assign(
        scraper_title=pd.Series([titles[i % 4] for i in range(200)], dtype=STRING_DTYPE),
        scraper_slug=pd.Series([f"w~{i % 4}" for i in range(200)], dtype=STRING_DTYPE),
    )
    charts = figures_of(frame, tmp_path / "r.html", monkeypatch)
    for chart in charts:
        assert_layout(chart, dpi=CSS_PX_PER_INCH * PIXEL_RATIO)  # drawn: no mathtext
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert all(str(escape(title)) in text for title in titles)
    cost = charts[2].axes[0]
    drawn = [t.get_text() for t in cost.get_yticklabels()]
    assert "Price $ tracker" in drawn and "Deals $^$ today" in drawn


@pytest.mark.usefixtures("charts_without_pixels")
def test_two_owners_workers_sharing_a_title_stay_apart_in_tables_and_charts(
    runs: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = runs.head(400)
    jobs = frame["scraper_title"] == frame["scraper_title"].iloc[0]
    slug_a = frame.loc[jobs, "scraper_slug"].iloc[0]
    other = frame.loc[~jobs, "scraper_slug"].iloc[0]
    # A second owner's worker, titled like the first one.
    frame = frame.assign(
        scraper_title=frame["scraper_title"].where(frame["scraper_slug"] != other, "Jobs"),
    )
    frame = frame.assign(
        scraper_title=frame["scraper_title"].where(frame["scraper_slug"] != slug_a, "Jobs")
    )
    charts = figures_of(frame, tmp_path / "r.html", monkeypatch)
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    names = {f"Jobs (…{slug[-8:]})" for slug in (slug_a, other)}
    workers = [row[0] for row in rows(section(text, "Cost by worker"))]
    assert names <= set(workers) and "Jobs" not in workers
    ticks = [{t.get_text() for t in figure.axes[0].get_yticklabels()} for figure in charts]
    assert any(names <= labels for labels in ticks)  # the cost-by-worker chart


@pytest.mark.usefixtures("charts_without_pixels")
def test_naive_start_times_with_aware_end_times_are_utc(runs: pd.DataFrame, tmp_path: Path) -> None:
    frame = runs.head(300)
    naive = frame.assign(started_at=frame["started_at"].dt.tz_localize(None))
    made = cost_report(naive, tmp_path / "naive.html", now=NOW).read_text(encoding="utf-8")
    same = cost_report(frame, tmp_path / "aware.html", now=NOW).read_text(encoding="utf-8")
    assert made == same  # the same report, its period included


def steady_costs(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """``frame`` with costs that vary as real ones do (log-normal around each worker's own
    median), where a run at many times the usual cost stands out."""
    rng = np.random.default_rng(seed)
    medians = {w: Decimal(i + 1) / 10 for i, w in enumerate(sorted(set(frame["scraper_slug"])))}
    costs = [
        money(medians[w] * Decimal(f"{rng.lognormal(0, 0.3):.6f}")) for w in frame["scraper_slug"]
    ]
    usage = pd.Series(costs, index=frame.index, dtype=object)
    return frame.assign(usage=usage.astype(USAGE_DTYPE), usage_float=usage.astype(float))


def test_the_outlook_comes_first_with_the_month_so_far_and_its_projection(
    runs: pd.DataFrame, report: str
) -> None:
    outlook = ccf.spend_outlook(runs, now=NOW)
    part = section(report, "Outlook")
    assert "$<" not in part
    for text in (
        "Month to date",
        usd(outlook.month_to_date),
        "Projected month-end",
        usd(outlook.projected),
        f"80% interval {usd(outlook.projected_low)} – {usd(outlook.projected_high)}",
        f"last month {usd(outlook.last_month)}",
        "Daily burn",
        usd(outlook.daily_burn),
        "This month and where it is heading",
        "Runs far costlier than usual",
    ):
        assert html.escape(text, quote=False) in part, text
    assert "Runway" not in part and "Budget" not in part  # given neither
    assert len(IMAGE_RE.findall(part)) == 2  # the cone chart, wide and narrow
    anomalies = ccf.cost_anomalies(runs)
    assert len(anomalies)  # the sandbox's runaway runs
    assert all(slug in part for slug in anomalies["slug"])


@pytest.mark.usefixtures("charts_without_pixels")
def test_the_outlook_says_when_no_run_is_far_costlier_than_usual(
    runs: pd.DataFrame, tmp_path: Path
) -> None:
    calm = runs[~runs["slug"].isin(ccf.cost_anomalies(runs)["slug"])]
    assert ccf.cost_anomalies(calm).empty
    text = cost_report(calm, tmp_path / "r.html", now=NOW).read_text(encoding="utf-8")
    assert "No run cost far more than its worker usually does." in section(text, "Outlook")


@pytest.mark.usefixtures("charts_without_pixels")
def test_the_outlook_with_a_balance_and_a_budget(runs: pd.DataFrame, tmp_path: Path) -> None:
    info = AccountInfo(Decimal("250.00"), pd.Timestamp("2026-03-20", tz="UTC"), None, pd.NaT)
    budget = ccf.spend_outlook(runs, now=NOW).projected / 2  # a budget the month overruns
    text = cost_report(runs, tmp_path / "r.html", now=NOW, balance=info, budget=budget)
    part = section(text.read_text(encoding="utf-8"), "Outlook")
    outlook = ccf.spend_outlook(runs, now=NOW, balance=info, budget=budget)
    assert outlook.over_budget and outlook.runway_limit == "expiry"
    assert "Balance" in part and "$250.00" in part and "expires 2026-03-20 00:00 UTC" in part
    assert "Runway" in part and f"{outlook.runway_days:,.1f} days" in part
    assert "when the balance expires" in part
    assert re.search(r'class="card wide alert">\s*<div class="label">Budget</div>', part)
    assert html.escape(outlook.budget_status(), quote=False) in part
    within = cost_report(runs, tmp_path / "w.html", now=NOW, budget=10**6).read_text("utf-8")
    assert " alert" not in section(within, "Outlook") and "within it" in within


@pytest.mark.usefixtures("charts_without_pixels")
def test_the_outlook_lists_runs_far_costlier_than_usual(runs: pd.DataFrame, tmp_path: Path) -> None:
    frame = steady_costs(runs)
    dear = frame.index[frame["status"] == "succeeded"][:3]
    frame.loc[dear, "usage"] = frame.loc[dear, "usage"] * 50
    frame.loc[dear, "scraper_title"] = '<b>"Dear" & co</b>'
    part = section(cost_report(frame, tmp_path / "r.html", now=NOW).read_text("utf-8"), "Outlook")
    table = rows(part)
    assert len(table) == 3
    assert {row[-1] for row in table} == set(frame.loc[dear, "slug"])
    assert all(row[0] == '<b>"Dear" & co</b>' for row in table)  # unescaped by rows()
    assert "<b>" not in part and "&lt;b&gt;" in part
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", part)
    assert headers[:3] == ["Worker", "Cost", "Times usual"]  # in view on a phone
