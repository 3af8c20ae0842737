"""The run schema: records -> typed frame, exactly."""

from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coreclaw_frames._records import records_to_frame
from coreclaw_frames.schema import (
    RUN_COLUMNS,
    RUN_DTYPES,
    SCHEMA_VERSION,
    STATUS_LABELS,
    empty_run_frame,
    is_status_dtype,
    run_arrow_schema,
)

SLUG = "01KSFDS8XWTJME33C08XMCR6B9"
RECORD = {
    "status": "succeeded",
    "err_msg": "",
    "slug": SLUG,
    "scraper_title": "News Collection 20260305",
    "scraper_slug": "01KPD6M5YVHWCNQCRK32BD02TP",
    "results": 4,
    "usage": "0.065",
    "started_at": 1773305309,
    "finished_at": 1773305316,
    "duration": 7,
    "origin": "api",
    "traffic": 23108,
    "version": "v1.0.5",
}


def test_dtypes_match_the_schema_table():
    df = records_to_frame([RECORD])
    assert list(df.columns) == [c.name for c in RUN_COLUMNS]
    for name, dtype in RUN_DTYPES.items():
        assert df[name].dtype == dtype, name
    assert isinstance(df["usage"].dtype, pd.ArrowDtype)
    assert pa.types.is_decimal(df["usage"].dtype.pyarrow_dtype)
    assert str(df["started_at"].dtype) == "datetime64[s, UTC]"
    assert str(df["results"].dtype) == "Int64"
    assert list(df["status"].cat.categories) == list(STATUS_LABELS)
    assert df["status"].cat.ordered


def test_values_are_exact():
    row = records_to_frame([RECORD]).iloc[0]
    assert row["usage"] == Decimal("0.065")
    assert row["status"] == "succeeded"
    assert row["started_at"] == pd.Timestamp(1773305309, unit="s", tz="UTC")
    assert row["duration"] == pd.Timedelta(seconds=7)
    assert row["traffic"] == 23108
    assert pd.isna(row["err_msg"])
    assert pd.isna(row["fetch_error"])


def test_unfinished_run_has_nat_times_and_duration():
    running = {**RECORD, "status": "running", "finished_at": 0, "duration": 0}
    ready = {**RECORD, "status": "ready", "started_at": 0, "finished_at": 0, "duration": 0}
    df = records_to_frame([running, ready])
    assert df["finished_at"].isna().all()
    assert df["duration"].isna().all()
    assert pd.isna(df.loc[1, "started_at"]) and df.loc[0, "started_at"] is not pd.NaT


def test_finished_run_with_zero_duration_keeps_zero():
    df = records_to_frame([{**RECORD, "duration": 0, "finished_at": RECORD["started_at"]}])
    assert df.loc[0, "duration"] == pd.Timedelta(0)


def test_traffic_beyond_32_bits():
    df = records_to_frame([{**RECORD, "traffic": 5 * 2**30}])
    assert df.loc[0, "traffic"] == 5 * 2**30


def test_every_status_shares_one_ordered_categorical():
    statuses = ["aborted", "ready", "aborting", "failed", "running", "succeeded"]
    df = records_to_frame([{**RECORD, "status": s} for s in statuses])
    assert list(df["status"]) == statuses
    assert list(df["status"].cat.categories) == [
        "ready",
        "running",
        "succeeded",
        "failed",
        "aborting",
        "aborted",
    ]
    assert df["status"].dtype == RUN_DTYPES["status"]
    assert df["status"].max() == "aborted" and df["status"].min() == "ready"


def test_a_status_no_version_documents_is_kept_as_data():
    df = records_to_frame([{**RECORD, "status": "paused"}, {**RECORD, "status": "queued"}, RECORD])
    assert list(df["status"]) == ["paused", "queued", "succeeded"]
    assert df["fetch_error"].isna().all()
    assert list(df["status"].cat.categories)[-2:] == ["paused", "queued"]  # after the known ones
    assert is_status_dtype(df["status"].dtype) and df["status"].cat.ordered


def test_empty_frame_has_full_schema():
    df = empty_run_frame()
    assert len(df) == 0
    assert dict(df.dtypes) == {name: pd.api.types.pandas_dtype(d) for name, d in RUN_DTYPES.items()}


def test_failure_rows_are_na_except_slug_and_error():
    df = records_to_frame([{"slug": SLUG, "fetch_error": "70001 Run record does not exist"}])
    row = df.iloc[0]
    assert row["slug"] == SLUG and row["fetch_error"].startswith("70001")
    assert row[["status", "usage", "results", "started_at", "duration"]].isna().all()
    assert pd.notna(row["fetched_at"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("usage", 0.0217),  # a float: refused, money never passes through float
        ("usage", "abc"),
        ("status", 9),
        ("status", ["succeeded"]),
        ("status", True),
        ("traffic", "12"),
        ("started_at", True),
        ("version", 5),
    ],
)
def test_malformed_value_is_blanked_and_named_never_crashes(field, value):
    good = {**RECORD, "slug": "01KSFDS8XWTJME33C08XMCR6B8"}
    df = records_to_frame([{**RECORD, field: value}, good])
    assert pd.isna(df.loc[0, field])
    assert field in df.loc[0, "fetch_error"] and repr(value) in df.loc[0, "fetch_error"]
    assert df.loc[0, "scraper_title"] == RECORD["scraper_title"]  # the rest is kept
    assert pd.isna(df.loc[1, "fetch_error"]) and df.loc[1, "usage"] == Decimal("0.065")


def test_unfinished_fetched_at_defaults_to_given_time():
    when = pd.Timestamp("2026-01-02 03:04:05.123456", tz="UTC")
    df = records_to_frame([RECORD], fetched_at=when)
    assert df.loc[0, "fetched_at"] == when
    with pytest.raises(ValueError, match="timezone-aware"):
        records_to_frame([RECORD], fetched_at=pd.Timestamp("2026-01-02"))


def test_arrow_schema_carries_version_and_descriptions():
    schema = run_arrow_schema()
    assert schema.metadata[b"coreclaw_frames.schema_version"] == str(SCHEMA_VERSION).encode()
    assert all(field.metadata[b"description"] for field in schema)


usage_strings = st.builds(
    lambda units, places, frac: (
        f"{units}" if places == 0 else f"{units}.{frac:0{places}d}"[: len(str(units)) + 1 + places]
    ),
    st.integers(min_value=0, max_value=10**8 - 1),  # what a run may cost: below $100,000,000
    st.integers(min_value=0, max_value=10),
    st.integers(min_value=0, max_value=10**10 - 1),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(usage_strings, min_size=1, max_size=60))
def test_usage_strings_survive_exactly_and_sum_exactly(strings):
    records = [{**RECORD, "usage": s} for s in strings]
    df = records_to_frame(records)
    assert [Decimal(s) for s in strings] == list(df["usage"])
    assert df["usage"].sum() == sum(Decimal(s) for s in strings)


def test_an_unseen_origin_is_kept_as_is():
    df = records_to_frame([{**RECORD, "origin": "openapi"}, {**RECORD, "origin": "schedule"}])
    assert list(df["origin"]) == ["openapi", "schedule"]


def test_times_in_milliseconds_are_read_as_milliseconds():
    ms = {
        **RECORD,
        "started_at": RECORD["started_at"] * 1000 + 250,
        "finished_at": RECORD["finished_at"] * 1000 + 999,
        "duration": (RECORD["finished_at"] - RECORD["started_at"]) * 1000 + 749,
    }
    ms["duration"] = ms["finished_at"] - ms["started_at"]
    df = records_to_frame([ms, RECORD])
    assert df.loc[0, "started_at"] == df.loc[1, "started_at"]
    assert df.loc[0, "finished_at"] == df.loc[1, "finished_at"]
    assert df.loc[0, "duration"] == pd.Timedelta(seconds=7)  # 7749 ms
    assert df["fetch_error"].isna().all()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("started_at", 10**16),  # beyond any plausible date, in seconds or milliseconds
        ("started_at", -5),
        ("finished_at", 123),  # 1970
        ("duration", -1),
        ("duration", 400 * 86400),  # over a year
        ("results", -3),
        ("traffic", -1),
        ("results", 2**40),  # a trillion results in one run
        ("traffic", 2**50),  # a PiB in one run
        ("traffic", 2**63 - 2),  # summed twice, would wrap around in int64
    ],
)
def test_implausible_numbers_are_flagged_not_kept(field, value):
    df = records_to_frame([{**RECORD, field: value}, RECORD])
    assert pd.isna(df.loc[0, field])
    assert f"{field}={value!r} out of range" in df.loc[0, "fetch_error"]
    assert pd.isna(df.loc[1, "fetch_error"])
    df.loc[[0], "started_at"].astype(str)  # printable: no year 57971


def test_the_largest_plausible_counts_are_kept():
    df = records_to_frame([{**RECORD, "results": 2**40 - 1, "traffic": 2**50 - 1}])
    assert (df.loc[0, "results"], df.loc[0, "traffic"]) == (2**40 - 1, 2**50 - 1)
    assert pd.isna(df.loc[0, "fetch_error"])


def test_a_record_holding_only_a_slug_is_flagged_not_a_successful_row():
    df = records_to_frame([{"slug": SLUG}])
    assert df.loc[0, "fetch_error"] == (
        "malformed record: missing status, scraper_slug, started_at, finished_at"
    )


def test_optional_fields_may_be_missing():
    optional = ["version", "origin", "scraper_title", "err_msg", "usage", "results", "traffic"]
    record = {k: v for k, v in RECORD.items() if k not in optional}
    df = records_to_frame([record, {**RECORD, "usage": None, "duration": None}])
    assert df["fetch_error"].isna().all()
    assert df.loc[0, optional].isna().all()
    assert pd.isna(df.loc[1, "usage"]) and pd.isna(df.loc[1, "duration"])


def test_failed_rows_are_not_also_flagged_for_missing_fields():
    df = records_to_frame([{"slug": SLUG, "fetch_error": "HTTP 503 after 6 attempts"}])
    assert df.loc[0, "fetch_error"] == "HTTP 503 after 6 attempts"


def test_a_huge_malformed_value_is_named_briefly():
    nested = [[[["x"] * 1000]] * 1000]
    df = records_to_frame([{**RECORD, "status": nested}])
    assert "unexpected status=[[[...], [...]" in df.loc[0, "fetch_error"]
    assert len(df.loc[0, "fetch_error"]) < 200


def test_deeply_nested_values_do_not_crash_the_batch():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    df = records_to_frame([{**RECORD, "version": deep}, RECORD])
    assert "unexpected version" in df.loc[0, "fetch_error"]
    assert pd.isna(df.loc[1, "fetch_error"])


@pytest.mark.parametrize(
    "usage",
    ["1e30", "1E2", "123456789012345678901", "0.0000000000000000001", "+1.5", " 1.5", "1,5"],
)
def test_a_cost_that_does_not_fit_or_is_not_plain_is_flagged_never_changed(usage):
    df = records_to_frame([{**RECORD, "usage": usage}, RECORD])
    assert pd.isna(df.loc[0, "usage"])
    assert f"unexpected usage={usage!r}" in df.loc[0, "fetch_error"]
    assert df.loc[1, "usage"] == Decimal("0.065")


def test_the_largest_cost_that_fits_and_the_first_that_does_not():
    df = records_to_frame(
        [{**RECORD, "usage": "99999999.9999999999"}, {**RECORD, "usage": "100000000"}]
    )
    assert df.loc[0, "usage"] == Decimal("99999999.9999999999")
    assert pd.isna(df.loc[1, "usage"])
    assert "unexpected usage='100000000'" in df.loc[1, "fetch_error"]
