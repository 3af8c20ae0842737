"""Run tables: rows typed run by run, JSON lines read fast, and many tables as one frame."""

import io
import json
import math
import random

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from row_reference import reference_frame

import coreclaw_frames._row_jsonl as row_jsonl
from coreclaw_frames._results import results_frame
from coreclaw_frames._row_columns import (
    HEADERS_KEY,
    JSON_COLUMNS_KEY,
    RENAMED_KEY,
    failed_table,
    jsonl_table,
    rows_table,
    tables_frame,
)
from coreclaw_frames.sandbox._workers import WORKER_SPECS

SLUGS = [f"01KSFDS8XWTJME33C08XMCR6{c}{d}" for c in "ABCD" for d in "0123456789"]
KEYS = ["a", "b", "c", "a.b", "run_slug", "fetch_error", "scraped", "scraped.run_slug", "é"]
KEYS += ["__coreclaw_data_id__"]
ISO = [
    "2026-03-01T00:00:00Z",
    "2026-03-01",
    "2026-03-01 10:00:00",
    "2026-03-01T10:00:00+02:00",
    "2026-03-01T10:00:00.123Z",
    "10:00:00",
]
BIG_INTS = [2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, 2**63, -(2**63), 10**15, 10**16, 2**70]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.sampled_from(BIG_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.sampled_from(ISO),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)
free_rows = st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=5), max_size=6)


@st.composite
def kind(draw, depth=0):
    """A column's kind: what every value of one key is (the fast path's home ground)."""
    plain = ["int", "float", "number", "bool", "str", "iso", "null"]
    nested = ["list", "objects"] + (["object"] if depth < 2 else [])
    choice = draw(st.sampled_from(plain + nested))
    if choice == "list":
        return ("list", draw(st.sampled_from(["int", "number", "str", "iso", "bool"])))
    if choice == "objects":
        return ("objects", draw(st.dictionaries(st.sampled_from("xyz"), kind(2), min_size=1)))
    if choice == "object":
        return ("object", draw(st.dictionaries(st.sampled_from(KEYS), kind(depth + 1), min_size=1)))
    return choice


@st.composite
def value_of(draw, spec):
    if isinstance(spec, tuple):
        what, inner = spec
        if what == "list":
            return draw(st.lists(value_of(inner), max_size=3))
        if what == "objects":
            return [draw(object_of(inner)) for _ in range(draw(st.integers(0, 2)))]
        return draw(object_of(inner))
    return draw(
        {
            "int": st.integers(-(10**12), 10**12),
            "float": st.floats(allow_nan=False, allow_infinity=False),
            "number": st.integers(-5, 5) | st.floats(-1e6, 1e6),
            "bool": st.booleans(),
            "str": st.text(max_size=4),
            "iso": st.sampled_from(ISO),
            "null": st.none(),
        }[spec]
    )


@st.composite
def object_of(draw, fields, optional=0.3):
    row = {}
    for key, spec in fields.items():
        roll = draw(st.floats(0, 1))
        if roll < optional / 2:
            continue  # absent
        row[key] = None if roll < optional else draw(value_of(spec))
    return row


TRAPS = [{}, None, 1, "x", 2**60, 2**64, 1.5, [{}], float("nan"), "\ud800"]


@st.composite
def typed_rows(draw):
    """Rows of one shape, now and then with a trap: an empty object, a null or a scalar where
    other rows have an object, an int too big, a NaN."""
    fields = draw(st.dictionaries(st.sampled_from(KEYS), kind(), min_size=1, max_size=5))
    rows = draw(st.lists(object_of(fields), max_size=8))
    if rows and draw(st.booleans()):
        row = draw(st.sampled_from(rows))
        path = [draw(st.sampled_from(KEYS))]
        if draw(st.booleans()):
            path.append(draw(st.sampled_from(KEYS)))
        trap = draw(st.sampled_from(TRAPS))
        target = row
        for key in path[:-1]:
            target = target.setdefault(key, {}) if isinstance(target.get(key), dict) else target
        target[path[-1]] = trap
    return rows


def lines_of(rows, ascii_only=True):
    return "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in rows).encode()


def assert_same_table(left, right):
    assert left.schema.equals(right.schema, check_metadata=True), (left.schema, right.schema)
    assert left.equals(right), (left.to_pylist(), right.to_pylist())


def expected_table(rows, headers, **options):
    """``rows_table`` of the rows as ``json.loads`` reads them back from their JSON lines."""
    loaded = [json.loads(line) for line in lines_of(rows).splitlines()]
    try:
        return rows_table(SLUGS[0], headers, loaded, **options)
    except UnicodeEncodeError:
        return UnicodeEncodeError


def check_jsonl(rows, headers, options, ascii_only=True):
    expected = expected_table(rows, headers, **options)
    source = io.BytesIO(lines_of(rows, ascii_only))
    if expected is UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            jsonl_table(SLUGS[0], source, headers=headers, **options)
        return
    assert_same_table(jsonl_table(SLUGS[0], source, headers=headers, **options), expected)


options = st.fixed_dictionaries(
    {
        "data_id": st.booleans(),
        "keep": st.none() | st.lists(st.sampled_from(KEYS), max_size=4),
    }
)


@SETTINGS
@given(rows=typed_rows(), headers=st.lists(st.sampled_from(KEYS)), options=options)
def test_jsonl_table_is_rows_table_on_rows_of_one_shape(rows, headers, options):
    check_jsonl(rows, headers, options)


@SETTINGS
@given(
    rows=free_rows,
    headers=st.lists(st.sampled_from(KEYS)),
    options=options,
    ascii_only=st.booleans(),
)
def test_jsonl_table_is_rows_table_on_any_rows(rows, headers, options, ascii_only):
    check_jsonl(rows, headers, options, ascii_only)


@SETTINGS
@given(rows=typed_rows())
def test_jsonl_table_is_rows_table_across_arrow_blocks(rows):
    original = row_jsonl.BLOCK_SIZE
    row_jsonl.BLOCK_SIZE = 256  # many blocks, each typed on its own by Arrow
    try:
        check_jsonl(rows * 20, [], {})
    finally:
        row_jsonl.BLOCK_SIZE = original


def sandbox_rows(spec, count, seed=0):
    rng = random.Random(seed)
    rows = [spec.make_row(rng, 1772323200, i) for i in range(count)]
    if spec.data_id:
        for row in rows:
            row["__coreclaw_data_id__"] = f"{rng.getrandbits(96):024x}"
    return rows


@pytest.mark.parametrize("spec", WORKER_SPECS, ids=lambda s: s.title)
def test_sandbox_rows_take_the_fast_path(spec, tmp_path):
    rows = sandbox_rows(spec, 300)
    headers = [h["key"] for h in spec.headers]
    path = tmp_path / "rows.jsonl"
    path.write_bytes(lines_of(rows, ascii_only=False))
    with open(path, "rb") as file:
        fast = row_jsonl._arrow_table(SLUGS[0], file, 0, headers, False, None)
    assert fast is not None
    assert_same_table(fast, rows_table(SLUGS[0], headers, rows))
    assert_same_table(jsonl_table(SLUGS[0], path, headers=headers), fast)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (b'{"a": 1}\n{"a": 9007199254740993.5}\n', "a 16-digit number"),
        (b'{"a": {"x": 1}}\n{"a": {}}\n', "an empty object"),
        (b'{"a": NaN}\n', "NaN"),
        (b'{"a": 1}\n\n{"a": 2}\n', "a blank line"),
        (b'{"a": 1} {"a": 2}\n', "two objects on a line"),
        (b'{"a": {"x": 1}}\n{"a": null}\n', "a null object"),
        (b'{"a": 1, "a": 2}\n', "a key twice"),
        (b'{"a.b": 1, "a": {"b": 2}}\n', "dotted names that collide"),
        (b'{"b": 1}\n' * 2000 + b'{"c": 1}\n', "a key first seen late"),
        (b'{"a": [null, null]}\n', "a list of nulls only (Arrow's reader gets it wrong)"),
    ],
)
def test_what_the_fast_path_leaves_to_the_line_by_line_path(text, why):
    assert row_jsonl._arrow_table(SLUGS[0], io.BytesIO(text), 0, [], False, None) is None, why
    try:
        expected = rows_table(SLUGS[0], [], [json.loads(line) for line in text.splitlines()])
    except json.JSONDecodeError:
        with pytest.raises(json.JSONDecodeError):
            jsonl_table(SLUGS[0], io.BytesIO(text))
        return
    assert_same_table(jsonl_table(SLUGS[0], io.BytesIO(text)), expected)


def test_key_order_is_first_seen_not_arrows():
    text = b'{"a": {"x": 1}, "b": 2}\n{"a": {"y": 1, "x": 2}}\n'
    table = jsonl_table(SLUGS[0], io.BytesIO(text))
    assert table.column_names == ["run_slug", "a.x", "b", "a.y"]
    assert row_jsonl._arrow_table(SLUGS[0], io.BytesIO(text), 0, [], False, None) is not None


def test_iso_strings_stay_strings_and_timestamps_of_any_depth():
    text = b'{"t": "2026-03-01T00:00:00Z", "o": {"d": "2026-03-01"}, "l": ["2026-03-01"]}\n'
    table = jsonl_table(SLUGS[0], io.BytesIO(text))
    assert table.to_pylist() == [
        {
            "run_slug": SLUGS[0],
            "t": "2026-03-01T00:00:00Z",
            "o.d": "2026-03-01",
            "l": ["2026-03-01"],
        }
    ]
    assert str(table.schema.field("l").type) == "list<item: string>"


def test_a_file_that_cannot_seek_is_read_line_by_line():
    class Stream(io.RawIOBase):
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            return self._data.readinto(buffer)

    rows = [{"a": 1, "b": {"c": "x"}}, {"a": 2}]
    table = jsonl_table(SLUGS[0], io.BufferedReader(Stream(lines_of(rows))))
    assert_same_table(table, rows_table(SLUGS[0], [], rows))


def test_rows_table_names_types_and_metadata():
    rows = [
        {"title": "A", "author": {"name": "x"}, "mixed": 1, "run_slug": "theirs", "n": None},
        {"title": "B", "author": {"name": "y", "n": 2}, "mixed": "two", "__coreclaw_data_id__": 7},
    ]
    table = rows_table(SLUGS[0], ["run_slug", "author", "title", "gone"], rows)
    assert table.column_names == [
        "run_slug",
        "scraped.run_slug",
        "author.name",
        "author.n",
        "title",
        "mixed",
        "n",
    ]
    assert table.schema.field("author.n").type == pa.int64()
    assert table.schema.field("n").type == pa.null()
    assert table.column("mixed").to_pylist() == ["1", '"two"']
    metadata = table.schema.metadata
    assert json.loads(metadata[JSON_COLUMNS_KEY]) == ["mixed"]
    assert json.loads(metadata[HEADERS_KEY]) == ["run_slug", "author", "title", "gone"]
    assert json.loads(metadata[RENAMED_KEY]) == {"run_slug": "scraped.run_slug"}
    assert "fetch_error" not in table.column_names
    with_id = rows_table(SLUGS[0], [], rows, data_id=True, keep=["title", "__coreclaw_data_id__"])
    assert with_id.column_names == ["run_slug", "title", "__coreclaw_data_id__"]


def test_failed_table_and_empty_runs():
    table = failed_table(SLUGS[0], "70001 Run record does not exist")
    assert table.to_pylist() == [
        {"run_slug": SLUGS[0], "fetch_error": "70001 Run record does not exist"}
    ]
    frame = tables_frame([rows_table(SLUGS[1], ["title"], []), table])
    assert list(frame.columns) == ["run_slug", "fetch_error"]
    assert frame["fetch_error"].tolist() == [table.column("fetch_error")[0].as_py()]
    empty = tables_frame([])
    assert list(empty.columns) == ["run_slug", "fetch_error"] and len(empty) == 0
    assert list(tables_frame([], error_column=False).columns) == ["run_slug"]


def test_tables_frame_unifies_types_across_runs():
    runs = [
        rows_table(SLUGS[0], ["n"], [{"n": 1, "big": 2**53 + 1, "l": [1], "j": 1, "s": None}]),
        rows_table(SLUGS[1], ["n"], [{"n": 2.5, "big": 0.5, "l": [0.5], "j": "x", "s": "t"}]),
        rows_table(SLUGS[2], [], [{"j": [1, "mixed"]}]),
        failed_table(SLUGS[3], "timed out"),
    ]
    frame = tables_frame(runs)
    assert frame["n"].dtype == "Float64" and frame["n"].tolist()[:2] == [1.0, 2.5]
    assert frame["big"].dtype == object and frame["big"].tolist()[:2] == [2**53 + 1, 0.5]
    assert str(frame["l"].dtype) == "list<item: double>[pyarrow]"
    assert frame["j"].dtype == object and frame["j"].tolist()[:3] == [1, "x", [1, "mixed"]]
    assert frame["s"].dtype == pd.ArrowDtype(pa.string())
    assert frame["fetch_error"].isna().tolist() == [True, True, True, False]
    assert "fetch_error" not in tables_frame(runs, error_column=False).columns


def same_value(new, old):
    """Equal, or differing only as the module docs allow for ``object`` columns."""
    if isinstance(old, float) and math.isnan(old):
        return new is None or (isinstance(new, float) and math.isnan(new))
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, int) and isinstance(new, float):
        return float(old) == new
    if isinstance(old, dict) and isinstance(new, dict):
        return all(same_value(new.get(k), old.get(k)) for k in {*old, *new})
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(map(same_value, new, old))
    return type(old) is type(new) and old == new if old is not None else new is None


def assert_same_frame(new, old):
    assert list(new.columns) == list(old.columns)
    for name in old.columns:
        if old[name].dtype == object:
            assert new[name].dtype == object, name
            assert all(map(same_value, new[name], old[name])), name
        else:
            pd.testing.assert_series_equal(new[name], old[name], obj=name)


# Keys that never collide across runs: the module docs name the cases that may.
RUN_KEYS = ["a", "b", "c", "run_slug", "fetch_error", "é", "__coreclaw_data_id__"]


@st.composite
def many_runs(draw):
    global_headers = draw(st.lists(st.sampled_from(RUN_KEYS), unique=True))
    runs = []
    for slug in SLUGS[: draw(st.integers(0, 5))]:
        if draw(st.integers(0, 5)) == 0:
            runs.append((slug, draw(st.text(min_size=1, max_size=5))))
            continue
        headers = [h for h in global_headers if draw(st.booleans())]
        if draw(st.booleans()):
            fields = draw(st.dictionaries(st.sampled_from(RUN_KEYS), kind(), min_size=1))
            rows = draw(st.lists(object_of(fields), max_size=5))
        else:
            strategy = st.dictionaries(st.sampled_from(RUN_KEYS), values, max_size=4)
            rows = draw(st.lists(strategy, max_size=4))
        runs.append((slug, (headers, rows)))
    return runs


def no_nested_scraped_keys(runs):
    """The runs without what names keys differently run by run (see module docs)."""

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k != "scraped"}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    def flat_own_names(row):
        return {
            k: "object" if k in ("run_slug", "fetch_error") and isinstance(v, dict) else v
            for k, v in clean(row).items()
        }

    return [
        (s, o if isinstance(o, str) else (o[0], [flat_own_names(r) for r in o[1]])) for s, o in runs
    ]


@SETTINGS
@given(runs=many_runs(), data_id=st.booleans())
def test_frame_of_run_tables_is_the_frame_of_all_rows(runs, data_id):
    runs = no_nested_scraped_keys(runs)
    try:
        old = reference_frame(runs, data_id=data_id)
    except UnicodeEncodeError:
        return
    assert_same_frame(results_frame(runs, data_id=data_id), old)


@SETTINGS
@given(runs=many_runs())
def test_tables_read_back_from_parquet_give_the_same_frame(runs):
    runs = no_nested_scraped_keys(runs)
    try:
        tables = [
            failed_table(s, o) if isinstance(o, str) else rows_table(s, o[0], o[1]) for s, o in runs
        ]
    except UnicodeEncodeError:
        return
    read_back = []
    for table in tables:
        sink = io.BytesIO()
        pq.write_table(table, sink)
        read_back.append(pq.read_table(io.BytesIO(sink.getvalue())))
    pd.testing.assert_frame_equal(tables_frame(read_back), tables_frame(tables))
