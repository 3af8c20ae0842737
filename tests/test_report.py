"""The HTML cost report: content, exact totals, escaping, offline, edge cases."""

from __future__ import annotations

import base64
import html
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.figure import Figure

import coreclaw_frames.accessor  # noqa: F401  (registers df.coreclaw)
from coreclaw_frames import report as report_module
from coreclaw_frames.api.v1 import V1
from coreclaw_frames.parquet import to_parquet
from coreclaw_frames.plots import MAX_TICK_LABEL_CHARS
from coreclaw_frames.records import records_to_frame
from coreclaw_frames.report import cost_report
from coreclaw_frames.sandbox import build_account, run_frame
from coreclaw_frames.schema import STRING_DTYPE, USAGE_DTYPE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
IMAGE_RE = re.compile(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return run_frame(build_account(seed=0, runs=3000), api_version="v1")


@pytest.fixture(scope="module")
def report(runs: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = cost_report(runs, tmp_path_factory.mktemp("report") / "nested" / "dir" / "r.html")
    return path.read_text(encoding="utf-8")


def test_returns_the_path_and_creates_parents(runs: pd.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "costs.html"
    written = cost_report(runs.head(50), str(target))
    assert written == target
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_has_every_worker_and_the_exact_grand_total(runs: pd.DataFrame, report: str) -> None:
    for worker in runs["scraper_title"].dropna().unique():
        assert html.escape(worker) in report
    total = sum(runs["usage"].dropna(), Decimal(0))
    assert f"${total:,.2f}" in report  # $2,350.22
    assert f"exactly ${total.normalize():f}" in report  # every digit, no float on the way
    assert f">{len(runs):,}<" in report  # total runs
    assert f">{int(runs['results'].sum()):,}<" in report
    assert f"{int(runs['traffic'].sum()):,} B" in report


def test_report_is_offline_and_self_contained(report: str) -> None:
    assert "http://" not in report and "https://" not in report
    assert "<script" not in report and "<link" not in report and "@import" not in report
    images = IMAGE_RE.findall(report)
    assert len(images) == 3
    assert all(base64.b64decode(data).startswith(PNG_SIGNATURE) for data in images)


def test_report_sections(runs: pd.DataFrame, report: str) -> None:
    for heading in ("By worker", "Version regressions", "By version", "Charts"):
        assert f"<h2>{heading}</h2>" in report
    assert "more than 10% above" in report  # the regression threshold is stated
    first = runs["started_at"].min().strftime("%Y-%m-%d %H:%M")
    last = max(runs["started_at"].max(), runs["finished_at"].max()).strftime("%Y-%m-%d %H:%M")
    assert f"Runs started {first} to {last} UTC" in report
    # Version tables list v1.0.9 before v1.0.10 within a worker.
    news = report.split("<h3>News Collection 20260305</h3>")[1].split("</table>")[0]
    assert news.index(">v1.0.9<") < news.index(">v1.0.10<")


def test_report_lists_the_regressions(tmp_path: Path) -> None:
    base = {
        "status": "succeeded",
        "scraper_title": "Alpha",
        "scraper_slug": "alpha",
        "results": 1000,
        "usage": "1.00",
        "traffic": 0,
        "started_at": T0,
    }
    rows = [
        {**base, "slug": "a", "version": "v1.0.9", "finished_at": T0 + 100, "duration": 100},
        {**base, "slug": "b", "version": "v1.0.10", "finished_at": T0 + 150, "duration": 150},
    ]
    text = cost_report(records_to_frame(rows), tmp_path / "r.html").read_text(encoding="utf-8")
    section = text.split("<h2>Version regressions</h2>")[1].split("<h2>")[0]
    assert ">v1.0.9<" in section and ">v1.0.10<" in section
    assert '<span class="flag">+50.0%</span>' in section


def test_data_strings_are_escaped(runs: pd.DataFrame, tmp_path: Path) -> None:
    nasty = '<script>alert("x")</script> & <b>Co</b>'
    frame = runs.head(30).assign(
        scraper_title=pd.Series([nasty] * 30, dtype=runs["scraper_title"].dtype),
        version=pd.Series(["<i>v1</i>"] * 30, dtype=runs["version"].dtype),
    )
    text = cost_report(frame, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>" not in text and "<b>Co</b>" not in text and "<i>v1</i>" not in text
    assert html.escape(nasty) in text and "&lt;i&gt;v1&lt;/i&gt;" in text


def test_fetch_failures_are_counted(runs: pd.DataFrame, tmp_path: Path) -> None:
    failed = records_to_frame([{"slug": f"F{i}", "fetch_error": "HTTP 404"} for i in range(3)])
    frame = pd.concat([runs.head(20), failed], ignore_index=True)
    text = cost_report(frame, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "3 row(s) whose fetch failed are left out" in text
    assert ">20<" in text  # the run count excludes them


def test_report_from_a_parquet_file(runs: pd.DataFrame, tmp_path: Path) -> None:
    source = to_parquet(runs.head(60), tmp_path / "runs.parquet")
    from_file = cost_report(source, tmp_path / "from_file.html").read_text(encoding="utf-8")
    from_frame = cost_report(runs.head(60), tmp_path / "from_frame.html").read_text("utf-8")
    total = sum(runs.head(60)["usage"].dropna(), Decimal(0))
    assert f"exactly ${total.normalize():f}" in from_file

    def stable(text: str) -> str:  # without the charts and the generation time
        return re.sub(r"Generated [^<]*", "", IMAGE_RE.sub("", text))

    assert stable(from_file) == stable(from_frame)


def test_accessor_writes_the_report(runs: pd.DataFrame, tmp_path: Path) -> None:
    path = runs.head(40).coreclaw.cost_report(tmp_path / "acc.html")
    assert path.exists() and "CoreClaw cost report" in path.read_text(encoding="utf-8")


def test_report_leaves_pyplot_alone(runs: pd.DataFrame, tmp_path: Path) -> None:
    cost_report(runs.head(40), tmp_path / "r.html")
    assert plt.get_fignums() == []  # charts are drawn on standalone figures


@pytest.mark.parametrize(
    ("data", "path", "error", "message"),
    [
        ([{"slug": "x"}], "out.html", TypeError, "must be a pandas DataFrame"),
        (pd.DataFrame({"slug": ["x"]}), "out.html", ValueError, "missing the required"),
        (None, 42, TypeError, "path must be"),
    ],
)
def test_bad_input(
    runs: pd.DataFrame, tmp_path: Path, data: Any, path: Any, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        cost_report(runs if data is None else data, path)
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
        "single": finished.assign(scraper_title=pd.Series(["Solo"] * 20, dtype=STRING_DTYPE)),
        # A fetched record must have a cost, so unknown costs are set in the frame.
        "na-costs": finished.assign(usage=pd.Series([None] * 20, dtype=USAGE_DTYPE)),
        "300-groups": every.assign(scraper_title=titles.astype(STRING_DTYPE)),
    }


@pytest.mark.parametrize("name", ["empty", "all-failed", "single", "na-costs", "300-groups"])
def test_edge_cases_render(name: str, tmp_path: Path) -> None:
    frame = edge_frames()[name]
    text = cost_report(frame, tmp_path / "r.html").read_text(encoding="utf-8")
    assert len(IMAGE_RE.findall(text)) == 3
    if name in ("empty", "all-failed"):
        assert "No runs." in text and "no started runs" in text
        assert "$0.00" in text
    if name == "all-failed":
        assert "10 row(s) whose fetch failed" in text
    if name == "single":
        assert text.count("<h3>Solo</h3>") == 1
    if name == "na-costs":
        assert "20 run(s) have no known cost" in text
    if name == "300-groups":
        titles = set(frame["scraper_title"].dropna())
        assert len(titles) == 300
        assert all(f"<td>{title}</td>" in text for title in titles)


def test_dollar_signs_in_titles_are_drawn_literally(
    runs: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    titles = ["Price $ tracker", "$5 deals $", "Deals $^$ today", "A $x_$ title longer than a tick"]
    frame = runs.head(200).assign(
        scraper_title=pd.Series([titles[i % 4] for i in range(200)], dtype=STRING_DTYPE)
    )
    charts: list[Figure] = []

    class RecordedFigure(Figure):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            charts.append(self)

    monkeypatch.setattr(report_module, "Figure", RecordedFigure)
    text = cost_report(frame, tmp_path / "r.html").read_text(encoding="utf-8")  # drew them all
    assert all(html.escape(title) in text for title in titles)
    shown = [
        t if len(t) <= MAX_TICK_LABEL_CHARS else t[: MAX_TICK_LABEL_CHARS - 1] + "…" for t in titles
    ]
    cost, over_time, duration = (chart.axes[0] for chart in charts)
    for axes in (cost, duration):
        assert sorted(t.get_text() for t in axes.get_xticklabels()) == sorted(shown)
    legend = over_time.get_legend()
    assert legend is not None
    assert sorted(t.get_text() for t in legend.get_texts()) == sorted(titles)
