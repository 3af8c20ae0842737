"""``fetch_results``: the rows each run scraped, as one DataFrame.

Rows are free-form JSON objects, so their frame has no fixed schema: ``run_slug`` comes first,
then the worker's declared ``headers`` in order, then any other keys, then ``fetch_error``.
Nested objects become dotted columns (``author.name``). Each column gets the narrowest type
that holds all its values: ``Int64``, ``Float64``, ``boolean``, Arrow strings, Arrow lists.
A column whose values share no type (say ints and strings) stays ``object``, values untouched.
The frame is built as an Arrow table, column by column, and converted to pandas once
(:func:`coreclaw_frames.schema.free_form_frame`); ``ccf.to_arrow(frame)`` gives that table
back (an ``object`` column as text).

CoreClaw adds an internal id to each row of some workers, ``__coreclaw_data_id__``; it says
nothing about the scraped data and is left out unless asked for (``data_id=True``).

``run_slug`` and ``fetch_error`` always describe the run and its fetch. A scraped key with
one of those names keeps its values under the name with ``scraped.`` in front
(``scraped.run_slug``), and again while that name is taken too
(``scraped.scraped.run_slug``): the names depend only on which keys occur.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from coreclaw_frames._batch import (
    ErrorsMode,
    check_errors_mode,
    check_progress,
    client_or_default,
    finish,
    run_batch,
    validate_slugs,
)
from coreclaw_frames.api import Client
from coreclaw_frames.schema import free_form_frame

__all__ = ["fetch_results", "results_frame"]

KEY_COLUMN = "run_slug"
ERROR_COLUMN = "fetch_error"
#: Put in front of a scraped key named like one of the frame's own columns.
SCRAPED_PREFIX = "scraped."
#: CoreClaw's internal row id: a column only when asked for.
DATA_ID_KEY = "__coreclaw_data_id__"

Headers = list[str]
Rows = list[dict[str, Any]]


def fetch_results(
    run_slugs: Iterable[str],
    *,
    client: Client | None = None,
    errors: ErrorsMode = "raise",
    progress: bool | None = None,
    data_id: bool = False,
) -> pd.DataFrame:
    """Every scraped row of every run in ``run_slugs``, as one DataFrame.

    Runs are fetched concurrently, each one page after another. A run whose rows cannot all
    be fetched is never dropped: it becomes one row with only ``run_slug`` and
    ``fetch_error``, and with ``errors="raise"`` (default) the batch ends in
    :class:`BatchFetchError` carrying the complete frame. Scraped keys named ``run_slug`` or
    ``fetch_error`` become ``scraped.run_slug`` and ``scraped.fetch_error`` (see module docs).
    CoreClaw's internal ``__coreclaw_data_id__`` is a column only with ``data_id=True``.

    Examples
    --------
    >>> rows = ccf.fetch_results(runs.loc[runs.status == "succeeded", "slug"])  # doctest: +SKIP
    >>> rows.groupby("run_slug").size()  # doctest: +SKIP
    """
    unique = validate_slugs(run_slugs, name="run_slugs")
    check_errors_mode(errors)
    show = check_progress(progress)
    with client_or_default(client) as active:
        outcomes = run_batch(active, unique, _fetch_run_results, progress=show, desc="runs")
    frame = results_frame([(slug, outcomes[slug]) for slug in unique], data_id=data_id)
    return finish(frame, errors, key=KEY_COLUMN, what="runs' results")


def results_frame(
    runs: Iterable[tuple[str, tuple[Headers, Rows] | str]], *, data_id: bool = False
) -> pd.DataFrame:
    """One frame from ``(run_slug, (headers, rows) or error text)`` pairs; see module docs.

    ``__coreclaw_data_id__`` is dropped from the rows unless ``data_id`` is true.

    Examples
    --------
    >>> results_frame([("01KSFDS8XWTJME33C08XMCR6B9", (["title"], [{"title": "A", "n": 1}]))])
                         run_slug title  n fetch_error
    0  01KSFDS8XWTJME33C08XMCR6B9     A  1        <NA>
    """
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
        array = _typed(values)
        if array is None:
            mixed[name] = values
        else:
            arrays[name] = array
    arrays[ERROR_COLUMN] = pa.array(errors, pa.string())
    frame = free_form_frame(pa.table(arrays))
    if not mixed:
        return frame
    # Values that share no type never were Arrow: they join the frame as they are.
    columns = {
        name: pd.Series(mixed[name], dtype=object) if name in mixed else frame[name]
        for name in [KEY_COLUMN, *scraped_order, ERROR_COLUMN]
    }
    return pd.DataFrame(columns, copy=False)


def _fetch_run_results(client: Client, slug: str) -> tuple[Headers, Rows]:
    return client.run_results(slug)


def _flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _scraped_names(keys: list[str]) -> dict[str, str]:
    """Column name -> scraped key, in key order; keys named like a frame column get
    ``SCRAPED_PREFIX`` until the name is free."""
    taken = {*keys, KEY_COLUMN, ERROR_COLUMN}
    names: dict[str, str] = {}
    for key in keys:
        name = key
        if key in (KEY_COLUMN, ERROR_COLUMN):
            while name in taken:
                name = SCRAPED_PREFIX + name
        names[name] = key
    return names


def _column_order(declared: list[str], seen: list[str]) -> list[str]:
    """Declared headers first (a nested header expands in place), then the rest as seen."""
    ordered: dict[str, None] = {}
    for header in declared:
        ordered.update(dict.fromkeys(c for c in seen if c == header or c.startswith(f"{header}.")))
    ordered.update(dict.fromkeys(seen))
    return list(ordered)


def _typed(values: list[Any]) -> pa.Array | None:
    """The values as an Arrow array of the narrowest type holding them all; None when they
    share no type (the column stays ``object``)."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
