"""The results frame built from all rows at once, as fetch_results built it before its rows
were typed run by run: the reference the run-by-run tables are checked against.

One rule is newer than that code: booleans and numbers share no type, in whatever order they
come (``pa.array`` alone reads ``[0.5, True]`` as floats, so True became 1.0)."""

from typing import Any

import pandas as pd
import pyarrow as pa

from coreclaw_frames.schema import free_form_frame

KEY_COLUMN = "run_slug"
ERROR_COLUMN = "fetch_error"
DATA_ID_KEY = "__coreclaw_data_id__"


def reference_frame(runs, *, data_id=False):
    declared: dict[str, None] = {}
    slugs: list[str] = []
    rows: list[dict[str, Any]] = []
    errors: list[str | None] = []
    for slug, outcome in runs:
        if isinstance(outcome, str):
            slugs.append(slug)
            rows.append({})
            errors.append(outcome)
            continue
        headers, scraped = outcome
        declared.update(dict.fromkeys(headers))
        for row in scraped:
            slugs.append(slug)
            flat = _flatten(row)
            if not data_id:
                flat.pop(DATA_ID_KEY, None)
            rows.append(flat)
            errors.append(None)
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    source = _scraped_names(list(seen))
    renamed = {key: name for name, key in source.items()}
    scraped_order = _column_order([renamed.get(h, h) for h in declared], list(source))
    arrays = {KEY_COLUMN: pa.array(slugs, pa.string())}
    mixed: dict[str, list[Any]] = {}
    for name in scraped_order:
        values = [row.get(source[name]) for row in rows]
        try:
            arrays[name] = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            mixed[name] = values
            continue
        if _numbers(arrays[name].type) and _has_bool(values):
            del arrays[name]
            mixed[name] = values
    arrays[ERROR_COLUMN] = pa.array(errors, pa.string())
    frame = free_form_frame(pa.table(arrays))
    if not mixed:
        return frame
    columns = {
        name: pd.Series(mixed[name], dtype=object) if name in mixed else frame[name]
        for name in [KEY_COLUMN, *scraped_order, ERROR_COLUMN]
    }
    return pd.DataFrame(columns, copy=False)


def _flatten(row, prefix=""):
    flat = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _scraped_names(keys):
    taken = {*keys, KEY_COLUMN, ERROR_COLUMN}
    names = {}
    for key in keys:
        name = key
        if key in (KEY_COLUMN, ERROR_COLUMN):
            while name in taken:
                name = "scraped." + name
        names[name] = key
    return names


def _column_order(declared, seen):
    ordered: dict[str, None] = {}
    for header in declared:
        ordered.update(dict.fromkeys(c for c in seen if c == header or c.startswith(f"{header}.")))
    ordered.update(dict.fromkeys(seen))
    return list(ordered)


def _numbers(arrow_type):
    if pa.types.is_list(arrow_type):
        return _numbers(arrow_type.value_type)
    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)


def _has_bool(values):
    return any(
        value is True or value is False or (isinstance(value, list) and _has_bool(value))
        for value in values
    )
