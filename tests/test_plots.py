"""The charts: exact bar lengths, group order, versions per worker, "other", periods not over
yet, units, bad input, and a layout where no text is clipped or overlaps."""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from figure_layout import assert_layout
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

import coreclaw_frames._accessor  # noqa: F401  (registers df.coreclaw)
from coreclaw_frames._records import records_to_frame
from coreclaw_frames.analysis import final_mask, summary, version_key
from coreclaw_frames.api._v1 import V1
from coreclaw_frames.plots import (
    IN_PROGRESS_HATCH,
    IN_PROGRESS_LABEL,
    INCOMPLETE_GID,
    MAX_LEGEND_LABEL_CHARS,
    MAX_TICK_LABEL_CHARS,
    NO_DATA_TEXT,
    OTHER_COLOR,
    OTHER_HATCH,
    move_legend,
    plot_cost,
    plot_cost_over_time,
    plot_duration,
)
from coreclaw_frames.sandbox import build_account, run_frame
from coreclaw_frames.schema import STATUS_LABELS

PLOTS = (plot_cost, plot_duration, plot_cost_over_time)
DAY = 86_400
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, a Thursday
NOW = "2026-03-16"  # the sandbox account's clock


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return run_frame(build_account(seed=0, runs=3000), api_version="v1")


@pytest.fixture(scope="module")
def many_workers(runs: pd.DataFrame) -> pd.DataFrame:
    titles = pd.Series([f"Worker {i % 300:03d}" for i in range(len(runs))])
    dtype = runs["scraper_title"].dtype
    return runs.assign(
        scraper_title=titles.astype(dtype), scraper_slug=("w~" + titles.str.slice(-3)).astype(dtype)
    )


def exact_sum(values: Any) -> Decimal:
    with localcontext() as context:
        context.prec = 100
        return sum((v for v in values if not pd.isna(v)), Decimal(0))


def cost_by(frame: pd.DataFrame, column: str) -> dict[str, Decimal]:
    return {str(k): exact_sum(g) for k, g in frame.groupby(column, observed=True)["usage"]}


def bars(ax: Axes) -> list[Rectangle]:
    """The bars drawn, without the hatched segments of runs not final or a period's shading."""
    return [
        p
        for p in ax.patches
        if isinstance(p, Rectangle)
        and p.get_hatch() != IN_PROGRESS_HATCH
        and p.get_gid() != INCOMPLETE_GID
    ]


def shading(ax: Axes) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == INCOMPLETE_GID]


def in_progress_bars(ax: Axes) -> list[Rectangle]:
    return [
        p for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch() == IN_PROGRESS_HATCH
    ]


def final_runs(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[final_mask(frame)]


def ticks(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels()]


def legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def finished_run(title: str, duration: int, **fields: Any) -> dict[str, Any]:
    record = {
        "slug": f"{title}-{duration}",
        "status": "succeeded",
        "scraper_title": title,
        "scraper_slug": title,
        "version": "v1",
        "origin": "api",
        "results": 1,
        "usage": "1",
        "traffic": 1,
        "started_at": T0,
        "finished_at": T0 + duration,
        "duration": duration,
    }
    record.update(fields)
    return record


# --- plot_cost --------------------------------------------------------------------------------


def test_bar_heights_are_exact_decimal_sums(runs: pd.DataFrame) -> None:
    ax = plot_cost(runs)
    expected = cost_by(runs, "scraper_title")
    heights = {label: bar.get_height() for label, bar in zip(ticks(ax), bars(ax), strict=True)}
    assert heights == {label: float(total) for label, total in expected.items()}


def test_workers_ordered_by_total_cost(runs: pd.DataFrame) -> None:
    expected = cost_by(runs, "scraper_title")
    labels = ticks(plot_cost(runs))
    assert labels == sorted(expected, key=expected.__getitem__, reverse=True)
    assert labels != sorted(labels)  # not alphabetical, not by appearance by chance


def test_versions_ordered_as_versions_within_their_worker(runs: pd.DataFrame) -> None:
    labels = ticks(plot_cost(runs, by="version", top=100, label_chars=60))
    assert labels.index("News Collection 20260305 · v1.0.9") < labels.index(
        "News Collection 20260305 · v1.0.10"
    )
    table = summary(runs, by="version")
    assert labels == [f"{worker} · {version}" for worker, version in table.index]
    for worker in table.index.get_level_values(0).unique():
        versions = [label.split(" · ")[1] for label in labels if label.startswith(worker)]
        assert versions == sorted(versions, key=version_key)
    duration_labels = ticks(
        plot_duration(runs, by="version", top=100, label_chars=60, ax=plt.figure().gca())
    )
    assert duration_labels.index("News Collection 20260305 · v1.0.9") < duration_labels.index(
        "News Collection 20260305 · v1.0.10"
    )


def shared_version_frame() -> pd.DataFrame:
    """Two workers with a v1.0.0 each: Jobs's costs $3, Social's $1."""
    return records_to_frame(
        [
            finished_run("Jobs", 60, version="v1.0.0", usage="3"),
            finished_run("Social", 60, version="v1.0.0", usage="1"),
        ]
    )


@pytest.mark.parametrize("plot", PLOTS, ids=lambda f: f.__name__)
def test_two_workers_same_version_stay_apart(plot: Any) -> None:
    frame = shared_version_frame()
    names = ["Jobs · v1.0.0", "Social · v1.0.0"]
    if plot is plot_cost_over_time:
        ax = plot(frame, by="version", now=NOW)
        assert legend_texts(ax) == names
        assert [bar.get_height() for bar in bars(ax)] == [3.0, 1.0]
    else:
        ax = plot(frame, by="version")
        assert ticks(ax) == names
        assert ax.get_xlabel() == "Worker · version"
    if plot is plot_cost:
        assert [bar.get_height() for bar in bars(ax)] == [3.0, 1.0]
        hued = plot_cost(frame, by="origin", hue="version", ax=plt.figure().gca())
        assert legend_texts(hued) == names


def test_statuses_in_lifecycle_order(runs: pd.DataFrame) -> None:
    assert ticks(plot_cost(runs, by="status")) == list(STATUS_LABELS)
    # Ready and running runs have no duration: the box plot keeps the order of the rest.
    finished = ticks(plot_duration(runs, by="status", ax=plt.figure().gca()))
    assert finished == ["succeeded", "failed", "aborted"]


def test_top_n_and_other_bar(many_workers: pd.DataFrame) -> None:
    ax = plot_cost(many_workers, top=5)
    expected = cost_by(many_workers, "scraper_title")
    ranked = sorted(expected, key=expected.__getitem__, reverse=True)
    labels = ticks(ax)
    assert labels == [*ranked[:5], "other (295)"]
    heights = [bar.get_height() for bar in bars(ax)]
    assert heights[-1] == float(exact_sum(expected[name] for name in ranked[5:]))
    assert len(ticks(plot_cost(many_workers, ax=plt.figure().gca()))) == 13  # default top 12


def test_other_is_drawn_last_and_looks_different(many_workers: pd.DataFrame) -> None:
    ax = plot_cost(many_workers, top=5, color="C0")
    *kept, other = bars(ax)
    assert other.get_hatch() == OTHER_HATCH
    assert other.get_facecolor() == matplotlib.colors.to_rgba(OTHER_COLOR)
    assert all(bar.get_hatch() is None for bar in kept)
    assert ax.get_xticklabels()[-1].get_fontstyle() == "italic"
    boxes = plot_duration(many_workers, top=5, ax=plt.figure().gca())
    assert [p.get_hatch() for p in boxes.patches][-1] == OTHER_HATCH
    stacked = plot_cost(many_workers, hue="scraper_title", top=3, ax=plt.figure().gca())  # 9 hues
    legend = stacked.get_legend()
    assert legend is not None and legend.get_texts()[-1].get_text() == "other (291)"


def test_hue_stacked_bars_are_exact(runs: pd.DataFrame) -> None:
    ax = plot_cost(runs, by="version", hue="origin", top=100, label_chars=60)
    versions = ticks(ax)
    legend = legend_texts(ax)
    assert sorted(legend) == ["api", "web"]
    patches = bars(ax)
    assert len(patches) == len(versions) * 2
    keyed = runs.assign(key=runs["scraper_title"] + " · " + runs["version"])
    for i, origin in enumerate(legend):
        expected = cost_by(keyed[keyed["origin"] == origin], "key")
        for version, bar in zip(versions, patches[i * len(versions) :], strict=False):
            assert bar.get_height() == float(expected.get(version, Decimal(0)))
    # Stacked: the second series sits on the first.
    assert patches[len(versions)].get_y() == patches[0].get_height()


def test_horizontal_bars_list_groups_from_the_top(runs: pd.DataFrame) -> None:
    ax = plot_cost(runs, orient="h")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ticks(plot_cost(runs, ax=plt.figure().gca()))
    widths = {label: bar.get_width() for label, bar in zip(labels, bars(ax), strict=True)}
    assert widths == {k: float(v) for k, v in cost_by(runs, "scraper_title").items()}
    bottom, top = ax.get_ylim()
    assert bottom > top  # the first (most expensive) group at the top
    assert ax.get_xlabel() == "Cost (USD)" and ax.get_ylabel() == "Worker"
    boxes = plot_duration(runs, orient="h", ax=plt.figure().gca())
    assert boxes.get_xlabel().startswith("Duration (")
    assert [t.get_text() for t in boxes.get_yticklabels()] == labels


def test_hue_grouped_bars_side_by_side(runs: pd.DataFrame) -> None:
    ax = plot_cost(runs, by="status", hue="origin", stacked=False)
    patches = bars(ax)
    assert all(bar.get_y() == 0 for bar in patches)
    assert patches[0].get_x() < patches[len(STATUS_LABELS)].get_x()


def test_cost_axis_in_dollars_and_kwargs_reach_bar(runs: pd.DataFrame) -> None:
    ax = plot_cost(runs, color="red")
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and all(label.startswith("$") for label in labels)
    assert ax.get_ylabel() == "Cost (USD)"
    assert bars(ax)[0].get_facecolor() == matplotlib.colors.to_rgba("red")


def test_draws_on_current_axes_by_default(runs: pd.DataFrame) -> None:
    _, ax = plt.subplots()
    assert plot_cost(runs) is ax
    assert runs.coreclaw.plot_duration() is ax
    assert runs.coreclaw.plot_cost_over_time(freq="W") is ax


# --- plot_duration ----------------------------------------------------------------------------


def box_medians(ax: Axes) -> list[float]:
    """The y of every horizontal two-point line (medians and caps) drawn by the box plot."""
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in ax.lines]
    return [float(y[0]) for y in ys if len(y) == 2 and y[0] == y[1]]


def test_duration_units_and_unfinished_runs_excluded() -> None:
    records = [finished_run("W", d) for d in (60, 120, 180)]
    running = {**finished_run("W", 0), "status": "running", "finished_at": 0, "slug": "running"}
    records.append(running)
    ax = plot_duration(records_to_frame(records), whis=(0, 100))
    assert ax.get_ylabel() == "Duration (min)"
    # Caps at min and max, median at 2 min: the unfinished run (NaT) is not a zero.
    assert sorted(set(box_medians(ax))) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("seconds", "unit"), [((5, 30, 50), "s"), ((600, 900), "min"), ((7200, 10800), "h")]
)
def test_duration_unit_follows_the_data(seconds: tuple[int, ...], unit: str) -> None:
    frame = records_to_frame([finished_run("W", s) for s in seconds])
    assert plot_duration(frame).get_ylabel() == f"Duration ({unit})"


def test_duration_hue_draws_one_legend_entry_per_value(runs: pd.DataFrame) -> None:
    ax = plot_duration(runs, hue="origin", showfliers=False)
    assert sorted(legend_texts(ax)) == ["api", "web"]
    assert ticks(ax) == ticks(plot_cost(runs, ax=plt.figure().gca()))


# --- plot_cost_over_time ----------------------------------------------------------------------


def test_cost_over_time_daily_bars_are_exact(runs: pd.DataFrame) -> None:
    ax = plot_cost_over_time(runs, freq="D", now=NOW)
    started = runs.dropna(subset=["started_at"])
    days = started["started_at"].dt.floor("D")
    final = final_runs(started)
    expected = {day: exact_sum(group) for day, group in final.groupby(days)["usage"]}
    span = pd.date_range(days.min(), days.max(), freq="D")
    heights = [bar.get_height() for bar in bars(ax)]
    assert len(heights) == len(span)  # empty days are zero bars, not gaps
    assert heights == [float(expected.get(day, Decimal(0))) for day in span]
    assert ax.get_ylabel() == "Cost per day (USD)"


def test_cost_of_runs_not_final_is_hatched_on_top(runs: pd.DataFrame) -> None:
    ax = plot_cost_over_time(runs, freq="W", now=NOW)
    started = runs.dropna(subset=["started_at"])
    going = started.loc[~final_mask(started)]
    assert len(going)  # the sandbox has runs still going in its last hour
    hatched = in_progress_bars(ax)
    assert [bar.get_height() for bar in hatched] == [float(exact_sum(going["usage"]))]
    last = bars(ax)[-1]
    assert hatched[0].get_y() == last.get_y() + last.get_height()  # on top of the final cost
    assert IN_PROGRESS_LABEL in legend_texts(ax)
    total = exact_sum(started["usage"])
    drawn = sum(bar.get_height() for bar in (*bars(ax), *hatched))
    assert drawn == pytest.approx(float(total), rel=1e-12)


def test_the_current_period_is_shaded(runs: pd.DataFrame) -> None:
    ax = plot_cost_over_time(runs, freq="D", now="2026-03-15 12:00")
    shaded = shading(ax)
    assert len(shaded) == 1  # the span of the 15th, not over at noon
    assert matplotlib.dates.num2date(shaded[0].get_x()) == pd.Timestamp("2026-03-15", tz="UTC")
    assert "this day so far" in legend_texts(ax)
    over = plot_cost_over_time(runs, freq="D", now="2026-04-01", ax=plt.figure().gca())
    assert not shading(over)
    assert legend_texts(over) == [IN_PROGRESS_LABEL]  # the hatched segment is still explained
    assert in_progress_bars(over)


def test_cost_over_time_weekly_stacked_by_worker(runs: pd.DataFrame) -> None:
    ax = plot_cost_over_time(runs, freq="W", by="scraper_title", now=NOW)
    starts = {matplotlib.dates.num2date(bar.get_x()).weekday() for bar in bars(ax)}
    assert starts == {0}  # every week starts on a Monday
    total = exact_sum(final_runs(runs.dropna(subset=["started_at"]))["usage"])
    assert sum(bar.get_height() for bar in bars(ax)) == pytest.approx(float(total), rel=1e-12)
    legend = legend_texts(ax)
    assert legend == [*ticks(plot_cost(runs, ax=plt.figure().gca())), IN_PROGRESS_LABEL]


def test_cost_over_time_month_aliases_agree(runs: pd.DataFrame) -> None:
    monthly = [b.get_height() for b in bars(plot_cost_over_time(runs, freq="M", now=NOW))]
    month_start = plot_cost_over_time(runs, freq="MS", now=NOW, ax=plt.figure().gca())
    assert monthly == [b.get_height() for b in bars(month_start)]
    assert len(monthly) == 7  # 2025-09 to 2026-03


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda df: plot_cost(df.to_dict()), TypeError, "must be a pandas DataFrame"),
        (lambda df: plot_cost(df, by="worker"), ValueError, r"by='worker'.*scraper_title"),
        (lambda df: plot_cost(df, hue="colour"), ValueError, r"hue='colour'.*origin"),
        (lambda df: plot_cost(df, by=cast(Any, ["version"])), TypeError, "column name"),
        (lambda df: plot_cost(df, top=0), ValueError, "top must be a positive integer"),
        (lambda df: plot_cost(df, ax=cast(Any, "left")), TypeError, "ax must be a matplotlib Axes"),
        (lambda df: plot_cost(df.drop(columns="usage")), ValueError, "'usage'"),
        (lambda df: plot_cost(df.assign(usage=0.5)), TypeError, "exact decimals"),
        (lambda df: plot_duration(df, by="nope"), ValueError, "by='nope'"),
        (lambda df: plot_duration(df.drop(columns="duration")), ValueError, "'duration'"),
        (lambda df: plot_duration(df, ax=cast(Any, object())), TypeError, "Axes"),
        (lambda df: plot_cost_over_time(df, freq="H"), ValueError, r"freq must be one of.*'H'"),
        (lambda df: plot_cost_over_time(df, freq=cast(Any, 7)), ValueError, "freq"),
        (lambda df: plot_cost_over_time(df, by="when"), ValueError, "by='when'"),
        (lambda df: plot_cost_over_time(df.drop(columns="started_at")), ValueError, "started"),
        (lambda df: plot_cost_over_time(df, now="soon"), ValueError, "now must be"),
        (lambda df: plot_cost(df, orient="x"), ValueError, "orient must be"),
        (lambda df: plot_duration(df, label_chars=2), ValueError, "label_chars"),
    ],
)
def test_bad_input_is_rejected_before_drawing(
    runs: pd.DataFrame, call: Callable[[Any], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call(runs)
    assert plt.get_fignums() == []  # nothing was drawn, not even an empty figure


# --- edge cases -------------------------------------------------------------------------------


def without_costs(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every cost unknown (a fetched record must have one, so set it here)."""
    return frame.assign(usage=pd.Series([None] * len(frame), dtype=frame["usage"].dtype))


def edge_frames(runs: pd.DataFrame, many_workers: pd.DataFrame) -> dict[str, pd.DataFrame]:
    records = [V1.canonical_run(r) for r in build_account(seed=0, runs=300).runs]
    finished = [r for r in records if r["status"] == "succeeded"]
    return {
        "empty": records_to_frame([]),
        "all-failed": records_to_frame(
            [{"slug": r["slug"], "fetch_error": "HTTP 500"} for r in records[:10]]
        ),
        "single": records_to_frame(
            [{**r, "scraper_title": "Solo", "scraper_slug": "solo~w"} for r in finished[:20]]
        ),
        "versions": runs,
        "na-costs": without_costs(records_to_frame(finished[:20])),
        "300-groups": many_workers,
    }


EDGE_CASES = ["empty", "all-failed", "single", "na-costs", "300-groups", "versions"]


def draw(plot: Any, frame: pd.DataFrame, ax: Axes, name: str, orient: str = "v") -> Axes:
    options: dict[str, Any] = {"ax": ax}
    if plot is plot_cost_over_time:
        options.update(now=NOW, freq="W", by="version" if name == "versions" else "scraper_title")
    else:
        options.update(orient=orient, by="version" if name == "versions" else "scraper_title")
    return plot(frame, **options)


@pytest.mark.parametrize("name", EDGE_CASES)
@pytest.mark.parametrize("plot", PLOTS, ids=lambda f: f.__name__)
def test_edge_cases_render(
    runs: pd.DataFrame, many_workers: pd.DataFrame, name: str, plot: Any
) -> None:
    frame = edge_frames(runs, many_workers)[name]
    ax = plot(frame) if name != "versions" else draw(plot, frame, plt.gca(), name)
    ax.figure.canvas.draw()
    texts = [t.get_text() for t in ax.texts]
    heights = [bar.get_height() for bar in bars(ax)]
    if name in ("empty", "all-failed"):
        assert texts == [NO_DATA_TEXT]
        assert heights == []
    elif name == "single" and plot is not plot_cost_over_time:
        assert ticks(ax) == ["Solo"]
    elif name == "na-costs" and plot is not plot_duration:
        assert heights and all(h == 0 for h in heights)
    elif name == "300-groups" and plot is not plot_cost_over_time:
        assert len(ticks(ax)) == 13 and ticks(ax)[-1] == "other (288)"
    elif name == "versions" and plot is not plot_cost_over_time:
        versions = len(summary(frame, by="version"))
        assert len(ticks(ax)) == 13 and ticks(ax)[-1] == f"other ({versions - 12})"
    assert NO_DATA_TEXT not in texts or name in ("empty", "all-failed")


#: Figure sizes (inches) the layout must hold in: matplotlib's default, and a report's width.
FIGURE_SIZES = [(6.4, 4.8), (10.0, 4.8)]


#: Every chart and orientation (time runs along x only).
CHARTS = [
    pytest.param(plot, orient, id=f"{plot.__name__}-{orient}")
    for plot in PLOTS
    for orient in ("v", "h")
    if not (plot is plot_cost_over_time and orient == "h")
]


@pytest.mark.parametrize("size", FIGURE_SIZES, ids=lambda s: f"{s[0]}in")
@pytest.mark.parametrize("name", EDGE_CASES)
@pytest.mark.parametrize(("plot", "orient"), CHARTS)
def test_no_text_is_clipped_or_overlaps(
    runs: pd.DataFrame,
    many_workers: pd.DataFrame,
    plot: Any,
    orient: str,
    name: str,
    size: tuple[float, float],
) -> None:
    figure = Figure(figsize=size, layout="constrained")
    draw(plot, edge_frames(runs, many_workers)[name], figure.subplots(), name, orient)
    assert_layout(figure)


def test_long_titles_are_shortened_in_ticks_and_legends() -> None:
    long_title = "A worker with a very long title indeed, longer than any tick label"
    frame = records_to_frame(
        [finished_run(long_title, 60, version=v) for v in ("v1.0.9", "v1.0.10")]
        + [finished_run("Short", 60)]
    )
    ax = plot_cost(frame, by="version", hue="scraper_title")
    labels = ticks(ax)
    assert all(len(label) <= MAX_TICK_LABEL_CHARS for label in labels)
    assert labels[0].endswith("… · v1.0.9") and labels[1].endswith("… · v1.0.10")
    entries = legend_texts(ax)
    assert entries[0] == long_title[: MAX_LEGEND_LABEL_CHARS - 1] + "…"
    narrow = ticks(plot_cost(frame, label_chars=12, ax=plt.figure().gca()))
    assert narrow[0] == long_title[:11] + "…"
    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    plot_cost(frame, by="version", hue="scraper_title", ax=figure.subplots())
    assert_layout(figure)


def test_move_legend_keeps_the_entries(runs: pd.DataFrame) -> None:
    figure = Figure(figsize=(3.75, 5.0), layout="constrained")
    ax = plot_cost_over_time(
        runs, freq="W", by="scraper_title", now="2026-03-15", ax=figure.subplots()
    )
    before = legend_texts(ax)
    move_legend(ax, "outside lower center", ncols=1)
    assert ax.get_legend() is None
    assert [t.get_text() for t in figure.legends[0].get_texts()] == before
    assert_layout(figure)


# --- text from the data -----------------------------------------------------------------------

#: Worker titles that mathtext would parse: as a formula ("$5 deals $") or not at all ("$^$").
DOLLAR_TITLES = (
    "Price $ tracker",
    "$5 deals $",
    "Deals $^$ today",
    "A $x_$ title longer than any tick label may be",
)
#: A column name that mathtext cannot parse either.
DOLLAR_COLUMN = "tier $_$"


def dollar_frame() -> pd.DataFrame:
    records = [
        finished_run(title, 60 * (i + 1), version=f"v{i % 2}", usage=str(i + 1))
        for i, title in enumerate(DOLLAR_TITLES * 2)
    ]
    frame = records_to_frame(records)
    return frame.assign(**{DOLLAR_COLUMN: frame["scraper_title"]})


def shortened(title: str, limit: int = MAX_TICK_LABEL_CHARS) -> str:
    if len(title) <= limit:
        return title
    return title[: limit - 1] + "…"


def drawn_as_written(text: Text) -> bool:
    """Whether ``text`` is drawn character for character: mathtext would change its extent."""
    plain = Text(text=text.get_text())
    plain.update_from(text)  # font, size, rotation
    plain.set_parse_math(False)
    plain.set_usetex(False)
    plain.set_figure(text.figure)
    renderer = text.figure.canvas.get_renderer()
    drawn = text.get_window_extent(renderer).size
    return bool(np.allclose(drawn, plain.get_window_extent(renderer).size))


def legend_entries(ax: Axes) -> list[Text]:
    legend = ax.get_legend()
    assert legend is not None
    return [*legend.get_texts(), legend.get_title()]


@pytest.mark.parametrize(
    ("plot", "options"),
    [
        pytest.param(plot_cost, {"by": "scraper_title"}, id="cost-ticks"),
        pytest.param(plot_cost, {"by": DOLLAR_COLUMN, "hue": DOLLAR_COLUMN}, id="cost-legend"),
        pytest.param(plot_duration, {"by": "scraper_title"}, id="duration-ticks"),
        pytest.param(
            plot_duration, {"by": DOLLAR_COLUMN, "hue": DOLLAR_COLUMN}, id="duration-legend"
        ),
        pytest.param(plot_cost_over_time, {"by": "scraper_title"}, id="over-time-legend"),
        pytest.param(plot_cost_over_time, {"by": DOLLAR_COLUMN}, id="over-time-column"),
    ],
)
def test_dollar_signs_in_the_data_are_drawn_literally(plot: Any, options: dict[str, str]) -> None:
    ax = plot(dollar_frame(), **options)
    ax.figure.canvas.draw()  # mathtext would raise on "$^$"
    texts: list[Text] = []
    if plot is not plot_cost_over_time:
        assert sorted(ticks(ax)) == sorted(map(shortened, DOLLAR_TITLES))
        texts += [*ax.get_xticklabels(), ax.xaxis.get_label()]
    if plot is plot_cost_over_time or "hue" in options:
        entries = sorted(shortened(t, MAX_LEGEND_LABEL_CHARS) for t in DOLLAR_TITLES)
        assert sorted(t for t in legend_texts(ax) if t != IN_PROGRESS_LABEL) == entries
        texts += legend_entries(ax)
    if options["by"] == DOLLAR_COLUMN:
        assert DOLLAR_COLUMN in [t.get_text() for t in texts]  # axis label or legend title
    assert [t.get_text() for t in texts if not drawn_as_written(t)] == []
    ax.figure.savefig(io.BytesIO(), format="png")


@pytest.mark.parametrize(
    ("plot", "options"),
    [
        (plot_cost, {"by": "version", "hue": "scraper_title"}),
        (plot_cost_over_time, {"by": "scraper_title"}),
    ],
    ids=["cost", "over-time"],
)
def test_legend_keeps_titles_starting_with_an_underscore(
    plot: Any, options: dict[str, str]
) -> None:
    ax = plot(records_to_frame([finished_run(t, 60) for t in ("_draft", "Live")]), **options)
    assert sorted(legend_texts(ax)) == ["Live", "_draft"]


def test_workers_sharing_a_title_are_two_groups_in_every_chart(runs: pd.DataFrame) -> None:
    first, second = runs["scraper_slug"].unique()[:2]
    shared = runs["scraper_slug"].isin([first, second])
    frame = runs.assign(scraper_title=runs["scraper_title"].where(~shared, "Jobs"))
    names = {f"Jobs (…{first[-8:]})", f"Jobs (…{second[-8:]})"}
    cost = plot_cost(frame, ax=plt.figure().subplots(), label_chars=40)
    assert names <= set(ticks(cost))
    duration = plot_duration(frame, ax=plt.figure().subplots(), label_chars=40)
    assert names <= set(ticks(duration))
    versions = plot_cost(frame, by="version", ax=plt.figure().subplots(), label_chars=60)
    assert {t.split(" · ")[0] for t in ticks(versions) if t.startswith("Jobs")} == names
    over_time = plot_cost_over_time(
        frame, freq="M", by="scraper_title", now=NOW, ax=plt.figure().subplots()
    )
    assert names <= set(legend_texts(over_time))
