"""Frames to Arrow tables and back, exactly: run frames through the run schema, any other column
through the description of its dtype stored in the file; and Arrow tables from elsewhere (no
such description) to frames, checked against the run schema (:func:`arrow_to_frame`).

Run frames go through :func:`coreclaw_frames.schema.run_arrow_schema` on the way out and
:func:`coreclaw_frames.schema.table_to_frame` on the way back, so the schema module stays the
single source of truth. ``object`` columns (mixed values) are stored as text.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from coreclaw_frames._errors import ParquetFormatError
from coreclaw_frames.parquet._layout import (
    FRAME_METADATA_KEY,
    MASKED_DTYPES,
    RESULTS_KEY,
    RESULTS_KEY_DESCRIPTION,
    RUN_COLUMN_NAMES,
    RUN_DESCRIPTIONS,
    RUN_DTYPES,
    FrameKind,
    Layout,
    quote,
)
from coreclaw_frames.schema import (
    DERIVED,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    USAGE_ARROW_TYPE,
    add_derived,
    conform_run_table,
    free_form_frame,
    is_status_dtype,
    run_arrow_schema,
    table_to_frame,
)


def frame_kind(df: pd.DataFrame) -> FrameKind:
    names = list(df.columns)
    if names and names[0] == RESULTS_KEY:
        dtype = df[RESULTS_KEY].dtype
        if not is_string_dtype(dtype):
            raise ValueError(
                f"{RESULTS_KEY!r} must be a string column, got dtype {dtype}; convert it with "
                f"df[{RESULTS_KEY!r}].astype(pd.ArrowDtype(pa.string()))"
            )
        return "results"
    missing = [name for name in RUN_COLUMN_NAMES if name not in df.columns and name not in DERIVED]
    if not missing:
        wrong = [
            f"{c.name} is {df[c.name].dtype}, expected {c.dtype}"
            for c in RUN_COLUMNS
            if c.name in df.columns
            and not (
                is_status_dtype(df[c.name].dtype)
                if c.name == "status"
                else same_dtype(df[c.name].dtype, RUN_DTYPES[c.name])
            )
        ]
        if wrong:
            raise ValueError(
                f"df has the run frame's columns but {len(wrong)} have the wrong dtype: "
                + quote(wrong, repr_items=False)
                + "; build run frames with fetch_runs or records.records_to_frame"
            )
        return "runs"
    first = repr(names[0]) if names else "none (no columns)"
    raise ValueError(
        f"df is neither a run frame (missing columns {quote(missing)}) nor a results frame "
        f"(first column must be {RESULTS_KEY!r}, got {first})"
    )


def same_dtype(actual: Any, expected: Any) -> bool:
    """Dtype equality without numpy's attempts to parse the other side as a numpy dtype."""
    return type(actual) is type(expected) and bool(actual == expected)


def is_string_dtype(dtype: Any) -> bool:
    if isinstance(dtype, pd.ArrowDtype):
        return bool(
            pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
        )
    return isinstance(dtype, pd.StringDtype)


def check_labels(df: pd.DataFrame) -> None:
    if isinstance(df.index, pd.MultiIndex) or df.index.name is not None:
        raise ValueError(
            f"df has a named index {list(df.index.names)!r}, which to_parquet does not store; "
            "call df.reset_index() to keep it as a column, or df.reset_index(drop=True)"
        )
    not_str = [name for name in df.columns if not isinstance(name, str)]
    if not_str:
        raise ValueError(f"column names must be strings, got {quote(not_str)}")
    duplicated = sorted(set(df.columns[df.columns.duplicated()]))
    if duplicated:
        raise ValueError(f"column names must be unique, got duplicates {quote(duplicated)}")


def frame_to_table(df: pd.DataFrame, partitions: tuple[str, ...]) -> tuple[Layout, pa.Table]:
    """Validate ``df`` and convert it to an Arrow table carrying its layout in the metadata."""
    kind, specs, table, fields = _frame_to_arrow(df)
    layout = Layout(kind, specs, partitions, pa.schema(fields))
    metadata = {
        b"pandas": pandas_metadata(table.schema.metadata),
        SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode(),
        FRAME_METADATA_KEY: layout.to_json(),
    }
    stored = pa.schema([stored_field(field) for field in fields], metadata)
    return layout, table.cast(stored)


def frame_to_arrow(df: pd.DataFrame) -> pa.Table:
    """Validate ``df`` and convert it to an Arrow table of the frame's own types: the run
    schema's for a run frame's columns (the schema version in the metadata), the Arrow type of
    its dtype for any other column, ``object`` columns as text (see :func:`text_array`)."""
    kind, _, table, fields = _frame_to_arrow(df)
    metadata = {SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()} if kind == "runs" else None
    return table.cast(pa.schema(fields, metadata))


def _frame_to_arrow(
    df: pd.DataFrame,
) -> tuple[FrameKind, tuple[dict[str, Any], ...], pa.Table, list[pa.Field]]:
    """``df``'s kind, column descriptions, Arrow table as pyarrow converts it, and the fields
    that table is to have (the run schema's for run columns, described)."""
    check_labels(df)
    kind = frame_kind(df)
    if kind == "runs":
        df = add_derived(df)
    specs = tuple(column_spec(name, df[name], kind) for name in df.columns)
    prepared = df.copy(deep=False)
    prepared.attrs = {}  # what an analysis noted about the frame is not data: not stored
    for spec in specs:
        if spec["restore"] == "text":
            prepared[spec["name"]] = pd.arrays.ArrowExtensionArray(text_array(df[spec["name"]]))
    try:
        table = pa.Table.from_pandas(prepared, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise ValueError(f"df cannot be converted to Arrow: {exc}") from exc
    run_fields = {f.name: f for f in run_arrow_schema()} if kind == "runs" else {}
    fields = []
    for field in table.schema:
        if field.name in run_fields:
            field = run_fields[field.name]
        elif kind == "results" and field.name == RESULTS_KEY:
            field = field.with_metadata({"description": RESULTS_KEY_DESCRIPTION})
        fields.append(field)
    return kind, specs, table, fields


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """The run frame or results frame of an Arrow table (see ``coreclaw_frames.from_arrow``).

    Run columns are checked and cast by :func:`~coreclaw_frames.schema.conform_run_table`,
    then typed by the run schema; other columns, and every column of a results table, by
    :func:`~coreclaw_frames.schema.free_form_frame`.
    """
    if not isinstance(table, pa.Table):
        raise TypeError(f"table must be a pyarrow Table, got {type(table).__name__}")
    names = table.column_names
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"column names must be unique, got duplicates {quote(duplicated)}")
    if names and names[0] == RESULTS_KEY:
        if not pa.types.is_string(table.schema.field(RESULTS_KEY).type):
            table = conform_results_key(table)
        return free_form_frame(table)
    missing = [name for name in RUN_COLUMN_NAMES if name not in names and name not in DERIVED]
    if missing:
        first = repr(names[0]) if names else "none (no columns)"
        raise ValueError(
            f"table is neither a run table (missing columns {quote(missing)}) nor a results "
            f"table (first column must be {RESULTS_KEY!r}, got {first})"
        )
    table = conform_run_table(table)
    runs = table_to_frame(table)
    extras = [name for name in names if name not in RUN_COLUMN_NAMES]
    order = [*names, *(name for name in DERIVED if name not in names)]
    if not extras and order == list(runs.columns):
        return runs
    columns = {name: runs[name] for name in runs.columns}
    if extras:
        added = free_form_frame(table.select(extras))
        columns.update({name: added[name] for name in extras})
    return pd.DataFrame({name: columns[name] for name in order}, copy=False)


def conform_results_key(table: pa.Table) -> pa.Table:
    """``table`` with its ``run_slug`` column as Arrow strings; a ValueError if it is no text."""
    position = table.column_names.index(RESULTS_KEY)
    column = table.column(position)
    if not (pa.types.is_large_string(column.type) or pa.types.is_string_view(column.type)):
        raise ValueError(
            f"{RESULTS_KEY!r} must be a string column, got type {column.type}; cast it with "
            f"table.set_column(0, {RESULTS_KEY!r}, table[{RESULTS_KEY!r}].cast(pa.string()))"
        )
    return table.set_column(position, RESULTS_KEY, column.cast(pa.string()))


def stored_field(field: pa.Field) -> pa.Field:
    """The field as written: dictionaries unordered.

    Parquet keeps only the values a file uses, so each file of a dataset has its own
    categories; Dask cannot concatenate ordered categoricals whose categories differ. The
    order lives in the frame description, and :func:`read_parquet` restores it.
    """
    if pa.types.is_dictionary(field.type) and field.type.ordered:
        unordered = pa.dictionary(field.type.index_type, field.type.value_type, ordered=False)
        return field.with_type(unordered)
    return field


def column_spec(name: str, series: pd.Series, kind: FrameKind) -> dict[str, Any]:
    """How to bring the column back: ``restore`` names the converter in :func:`to_series`."""
    dtype = series.dtype
    spec: dict[str, Any] = {"name": name, "dtype": str(dtype)}
    if kind == "runs" and name in RUN_DESCRIPTIONS:
        spec.update(restore="run", description=RUN_DESCRIPTIONS[name])
        return spec
    if kind == "results" and name == RESULTS_KEY:
        spec["description"] = RESULTS_KEY_DESCRIPTION
    if isinstance(dtype, pd.ArrowDtype):
        spec["restore"] = "arrow"
    elif isinstance(dtype, pd.StringDtype):
        spec.update(restore="string", **string_dtype_spec(dtype))
    elif isinstance(dtype, pd.CategoricalDtype):
        spec.update(restore="category", **categories_spec(name, dtype))
    elif isinstance(dtype, MASKED_DTYPES):
        spec["restore"] = "extension"
    elif pd.api.types.is_object_dtype(dtype):
        spec["restore"] = "text"
    elif isinstance(dtype, pd.DatetimeTZDtype) or (
        isinstance(dtype, np.dtype) and dtype.kind in "biufmM"
    ):
        spec["restore"] = "pandas"
    else:
        raise ValueError(
            f"column {name!r} has dtype {dtype}, which to_parquet cannot store; convert it "
            f"first, for example df[{name!r}] = df[{name!r}].astype(str)"
        )
    return spec


def string_dtype_spec(dtype: pd.StringDtype) -> dict[str, Any]:
    na_value = "nan" if dtype.na_value is np.nan else "NA"
    return {"storage": dtype.storage, "na_value": na_value}


def string_dtype(spec: dict[str, Any]) -> pd.StringDtype:
    na_value = np.nan if spec["na_value"] == "nan" else pd.NA
    return pd.StringDtype(storage=spec["storage"], na_value=na_value)


def categories_spec(name: str, dtype: pd.CategoricalDtype) -> dict[str, Any]:
    categories = dtype.categories
    inner = categories.dtype
    spec: dict[str, Any] = {"ordered": bool(dtype.ordered)}
    if isinstance(inner, pd.StringDtype):
        spec["categories_dtype"] = {"restore": "string", **string_dtype_spec(inner)}
    elif isinstance(inner, np.dtype) and inner.kind in "biufO":
        spec["categories_dtype"] = {"restore": "pandas", "dtype": str(inner)}
    else:
        raise ValueError(
            f"categorical column {name!r} has categories of dtype {inner}; to_parquet stores "
            "string, integer, float or boolean categories only"
        )
    values = categories.tolist()
    try:
        spec["categories"] = json.loads(json.dumps(values, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"categorical column {name!r} has categories that are not plain strings or "
            f"numbers ({exc})"
        ) from exc
    if spec["categories"] != values:
        raise ValueError(f"categorical column {name!r} has categories JSON cannot keep exactly")
    return spec


def categories_dtype(spec: dict[str, Any]) -> pd.CategoricalDtype:
    inner = spec["categories_dtype"]
    index_dtype: Any = (
        string_dtype(inner) if inner["restore"] == "string" else np.dtype(inner["dtype"])
    )
    categories = pd.Index(spec["categories"], dtype=index_dtype)
    return pd.CategoricalDtype(categories, ordered=spec["ordered"])


def text_array(series: pd.Series) -> pa.Array:
    """An ``object`` column of any mix of values as Arrow strings (see :func:`to_parquet`)."""
    return pa.array([as_text(value) for value in series.array], pa.string())


def as_text(value: Any) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    if isinstance(value, int | float | Decimal | np.integer | np.floating):
        return str(value)
    if isinstance(value, dict | list | tuple | np.ndarray):
        plain = value.tolist() if isinstance(value, np.ndarray) else value
        return json.dumps(plain, ensure_ascii=False, default=json_default)
    return str(value)


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def pandas_metadata(metadata: dict[bytes, bytes] | None) -> bytes:
    """pyarrow's pandas metadata, minus dtype names that pandas cannot parse back.

    pyarrow records ``str(dtype)``, and for Arrow types such as lists or structs that string
    is not a dtype pandas can rebuild: ``pandas.read_parquet`` and Dask would raise on it.
    """
    pandas_meta = json.loads((metadata or {})[b"pandas"])
    for column in pandas_meta["columns"]:
        try:
            pd.api.types.pandas_dtype(column["numpy_type"])
        except (TypeError, ValueError, NotImplementedError):
            column["numpy_type"] = "object"
        if column["pandas_type"] == "categorical":
            column["metadata"]["ordered"] = False  # as stored, see stored_field
    return json.dumps(pandas_meta).encode()


def frame_columns(layout: Layout) -> list[str]:
    """The columns :func:`frame_of_table` gives for ``layout``: an older run frame comes back
    with today's run columns in today's order (derived ones gained), then its own columns."""
    if layout.kind == "runs" and layout.schema_version < SCHEMA_VERSION:
        extras = [spec["name"] for spec in layout.columns if spec["restore"] != "run"]
        return [*RUN_COLUMN_NAMES, *extras]
    return layout.names


def frame_of_table(
    table: pa.Table, layout: Layout, columns: list[str] | None = None
) -> pd.DataFrame:
    """The frame of a table read from files of ``layout``: every column, or ``columns`` (names
    of :func:`frame_columns`, in that order; the table holds at least their
    :func:`stored_columns`)."""
    names = frame_columns(layout) if columns is None else columns
    present = [name for name in layout.names if name in table.column_names]
    specs = {spec["name"]: spec for spec in layout.columns}
    table = restore_types(
        table.select(present), pa.schema([layout.schema.field(n) for n in present])
    )
    converted: dict[str, pd.Series] = {}
    if layout.kind == "runs":
        wanted = [name for name in names if name in RUN_DESCRIPTIONS]
        frame = run_frame(table, wanted)
        converted.update({name: frame[name] for name in frame.columns})
    converted.update(
        {name: to_series(table, specs[name]) for name in names if name not in converted}
    )
    return pd.DataFrame(
        {name: converted[name] for name in names}, index=pd.RangeIndex(table.num_rows), copy=False
    )


def run_frame(table: pa.Table, columns: list[str]) -> pd.DataFrame:
    """The run ``columns`` of a table of any schema version; a cost too big or too precise for
    today's ``usage`` type is an error, never rounded."""
    try:
        return table_to_frame(table, columns)
    except pa.ArrowInvalid as exc:
        raise ParquetFormatError(
            f"a cost in this file does not fit today's usage type {USAGE_ARROW_TYPE} (up to "
            f"{USAGE_ARROW_TYPE.scale} decimal places, below "
            f"{10 ** (USAGE_ARROW_TYPE.precision - USAGE_ARROW_TYPE.scale):,} USD): {exc}"
        ) from exc


def restore_types(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast back what Parquet changed (second timestamps come back as milliseconds).

    Columns Parquet re-reads as plain values (integer categories; hive partition columns)
    stay undictionaried: the pandas converters take either.
    """
    columns = []
    for column, field in zip(table.columns, schema, strict=True):
        target = field.type
        if pa.types.is_dictionary(target):  # the converters take values or any dictionary
            dictionary = pa.types.is_dictionary(column.type)
            target = column.type if dictionary else target.value_type
        same = column.type == target and str(column.type) == str(target)  # list field names
        columns.append(column if same else column.cast(target))
    return pa.table(columns, names=schema.names)


def to_series(table: pa.Table, spec: dict[str, Any]) -> pd.Series:
    column = table.column(spec["name"])
    restore = spec["restore"]
    values: Any
    if restore == "arrow":
        values = pd.arrays.ArrowExtensionArray(column)
    elif restore == "text":
        values = pd.arrays.ArrowExtensionArray(column.cast(pa.string()))
    elif restore == "string":
        values = string_dtype(spec).__from_arrow__(column)
    elif restore == "extension":
        values = pd.api.types.pandas_dtype(spec["dtype"]).__from_arrow__(column)
    elif restore == "category":
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        values = pd.Categorical(column.to_pandas(), dtype=categories_dtype(spec))
    elif restore == "pandas":
        values = column.to_pandas().astype(pd.api.types.pandas_dtype(spec["dtype"]))
    else:
        raise ParquetFormatError(f"column {spec['name']!r}: unknown restore kind {restore!r}")
    return pd.Series(values, index=pd.RangeIndex(len(column)), name=spec["name"], copy=False)
