"""The run frame in an analyst's hands: everyday pandas on a fetched frame gives right numbers."""

import io
import itertools
import re
from decimal import Decimal

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coreclaw_frames as ccf
from coreclaw_frames._records import records_to_frame
from coreclaw_frames.sandbox import serve


@pytest.fixture(scope="module")
def fetched():
    """A frame as a user gets it: fetched over HTTP from the sandbox; and the exact costs."""
    with serve(runs=600, seed=8) as srv:
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, max_workers=16) as client:
            df = ccf.fetch_runs(
                [r["slug"] for r in srv.account.runs], client=client, progress=False
            )
        exact = {r["slug"]: Decimal(r["usage"]) for r in srv.account.runs}
    assert df["fetch_error"].isna().all()
    return df, [exact[s] for s in df["slug"]]


def decimals(series):
    return [None if pd.isna(v) else Decimal(v) for v in series]


def test_elementwise_arithmetic_on_the_exact_cost(fetched):
    df, exact = fetched
    assert decimals(df["usage"] + df["usage"]) == [2 * v for v in exact]
    assert decimals(df["usage"] - df["usage"]) == [0] * len(exact)
    assert decimals(df["usage"] * 2) == [2 * v for v in exact]
    assert decimals(df["usage"] + Decimal("0.5")) == [v + Decimal("0.5") for v in exact]
    diffs = decimals(df["usage"].diff())
    assert diffs[0] is None and diffs[1:] == [b - a for a, b in itertools.pairwise(exact)]
    assert (df["usage"] > Decimal("1")).sum() == sum(v > 1 for v in exact)
    assert decimals(df["usage"].abs()) == exact


def test_sums_and_group_sums_are_exact(fetched):
    df, exact = fetched
    assert df["usage"].sum() == sum(exact)
    assert isinstance(df["usage"].sum(), Decimal)
    expected: dict[str, Decimal] = {}
    for title, cost in zip(df["scraper_title"], exact, strict=True):
        expected[title] = expected.get(title, Decimal(0)) + cost
    grouped = df.groupby("scraper_title")["usage"].sum()
    assert {k: Decimal(v) for k, v in grouped.items()} == expected
    pivot = df.pivot_table(index="scraper_title", values="usage", aggfunc="sum")["usage"]
    assert {k: Decimal(v) for k, v in pivot.items()} == expected


def test_resample_by_week_on_started_at(fetched):
    df, exact = fetched
    started = df["started_at"].notna().to_numpy()
    weekly = df[started].resample("W", on="started_at")["usage"].sum()
    expected: dict[pd.Timestamp, Decimal] = {}
    for when, cost in zip(df.loc[started, "started_at"], pd.Series(exact)[started], strict=True):
        week = (when + pd.offsets.Week(weekday=6)).normalize() if when.weekday() != 6 else when
        week = week.normalize()
        expected[week] = expected.get(week, Decimal(0)) + cost
    assert {k: Decimal(v) for k, v in weekly.items() if Decimal(v)} == {
        k: v for k, v in expected.items() if v
    }


def test_mean_min_max_and_comparisons(fetched):
    df, exact = fetched
    assert df["usage"].min() == min(exact) and df["usage"].max() == max(exact)
    assert abs(df["usage"].mean() - sum(exact) / len(exact)) < Decimal("1e-9")


def test_float_twin_does_what_decimals_cannot(fetched):
    df, exact = fetched
    floats = [float(v) for v in exact]
    assert df["usage_float"].tolist() == floats
    per_1k = df["usage_float"] * 1000 / df["results"]  # scalar arithmetic, a column divisor
    finite = df["results"].fillna(0).to_numpy() > 0
    assert per_1k[finite].tolist() == pytest.approx(
        [f * 1000 / r for f, r, ok in zip(floats, df["results"], finite, strict=True) if ok]
    )
    shares = df["usage_float"] / df.groupby("scraper_title")["usage_float"].transform("sum")
    assert shares.groupby(df["scraper_title"]).sum().tolist() == pytest.approx([1.0] * 8)
    assert df["usage_float"].cumsum().iloc[-1] == pytest.approx(float(sum(exact)))
    top = df["usage_float"].nlargest(5).tolist()
    assert top == sorted(floats, reverse=True)[:5]
    assert df["usage_float"].quantile(0.9) == pytest.approx(pd.Series(floats).quantile(0.9))
    rolling = df["usage_float"].rolling(7).sum().dropna()
    assert rolling.iloc[0] == pytest.approx(sum(floats[:7]))
    assert df["usage"].astype(float).tolist() == pytest.approx(floats, rel=1e-15)


def test_describe_includes_the_cost(fetched):
    df, exact = fetched
    described = df.describe()
    assert "usage_float" in described.columns
    assert described.loc["mean", "usage_float"] == pytest.approx(float(sum(exact)) / len(exact))


def test_a_histogram_of_costs_draws(fetched):
    df, _ = fetched
    ax = df["usage_float"].plot.hist(bins=20)
    assert sum(patch.get_height() for patch in ax.patches) == len(df)
    plt.close("all")


def test_sort_merge_and_counts(fetched):
    df, exact = fetched
    ordered = df.sort_values("usage", kind="stable")["usage"]
    assert decimals(ordered) == sorted(exact)
    workers = df.drop_duplicates("scraper_slug")[["scraper_slug", "scraper_title"]]
    workers = workers.rename(columns={"scraper_title": "title"})
    merged = df.merge(workers, on="scraper_slug", how="left")
    assert len(merged) == len(df) and merged["usage"].sum() == sum(exact)
    assert (merged["title"] == merged["scraper_title"]).all()
    assert df["status"].value_counts().sum() == len(df)


def test_csv_round_trip_keeps_exact_costs(fetched):
    df, exact = fetched
    text = df.to_csv(index=False)
    back = pd.read_csv(io.StringIO(text), converters={"usage": Decimal})
    assert back["usage"].tolist() == exact
    assert back["usage_float"].tolist() == pytest.approx([float(v) for v in exact])


def test_the_first_columns_show_no_exponent_notation(fetched):
    df, _ = fetched
    first = df.columns[: list(df.columns).index("usage_float") + 1]
    shown = df.sort_values("usage_float").head(20)[first].to_string()
    assert not re.search(r"\dE[-+]\d", shown)
    assert "0.0" in shown  # free runs read as plain zeros


plain_costs = st.decimals(
    min_value=0, max_value=Decimal("99999999.9999999999"), places=10, allow_nan=False
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABC"), plain_costs), min_size=1, max_size=80))
def test_exact_sums_equal_python_decimal_sums(rows):
    records = [
        {
            "slug": f"01KSFDS8XWTJME33C08XMC{i:04d}",
            "status": "succeeded",
            "scraper_slug": worker,
            "scraper_title": worker,
            "usage": format(cost, "f"),
            "started_at": 1773305309,
            "finished_at": 1773305316,
        }
        for i, (worker, cost) in enumerate(rows)
    ]
    df = records_to_frame(records)
    assert df["fetch_error"].isna().all()
    assert df["usage"].sum() == sum(cost for _, cost in rows)
    for worker, total in df.groupby("scraper_title")["usage"].sum().items():
        assert total == sum(cost for w, cost in rows if w == worker)
