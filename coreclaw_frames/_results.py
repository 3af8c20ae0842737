"""``fetch_results``: the rows each run scraped, as one DataFrame.

Rows are free-form JSON objects, so their frame has no fixed schema: ``run_slug`` comes first,
then the worker's declared ``headers`` in order, then any other keys, then ``fetch_error``.
Nested objects become dotted columns (``author.name``). Each column gets the narrowest type
that holds all its values: ``Int64``, ``Float64``, ``boolean``, Arrow strings, Arrow lists.
A column whose values share no type (say ints and strings) stays ``object``, values untouched.
Each run becomes an Arrow table as soon as its rows arrive, and the tables become one frame
(:mod:`coreclaw_frames._row_columns` says how columns are typed across runs), converted to
pandas once (:func:`coreclaw_frames.schema.free_form_frame`); ``ccf.to_arrow(frame)`` gives
that table back (an ``object`` column as text).

CoreClaw adds an internal id to each row of some workers, ``__coreclaw_data_id__``; it says
nothing about the scraped data and is left out unless asked for (``data_id=True``).

``run_slug`` and ``fetch_error`` always describe the run and its fetch. A scraped key with
one of those names keeps its values under the name with ``scraped.`` in front
(``scraped.run_slug``), and again while that name is taken too
(``scraped.scraped.run_slug``): the names depend only on which keys occur.
"""

from __future__ import annotations

from collections.abc import Iterable
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
from coreclaw_frames._memory import release_memory
from coreclaw_frames._row_columns import KEY_COLUMN, failed_table, rows_table, tables_frame
from coreclaw_frames._row_frame import FrameBuilder
from coreclaw_frames.api import Client

__all__ = ["fetch_results", "results_frame"]

#: Runs taken in between two hand-backs of freed memory (:func:`release_memory`).
RELEASE_EVERY = 250

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
    Each run's rows are typed into an Arrow table as soon as they arrive, so only the runs in
    flight exist as Python objects.

    Examples
    --------
    >>> rows = ccf.fetch_results(runs.loc[runs.status == "succeeded", "slug"])  # doctest: +SKIP
    >>> rows.groupby("run_slug").size()  # doctest: +SKIP
    """
    unique = validate_slugs(run_slugs, name="run_slugs")
    check_errors_mode(errors)
    show = check_progress(progress)

    def fetch_run(client: Client, slug: str) -> pa.Table:
        headers, rows = client.run_results(slug)
        return rows_table(slug, headers, rows, data_id=data_id)

    builder = FrameBuilder()
    arrived: dict[str, pa.Table | str] = {}
    upcoming = iter(unique)
    next_slug = next(upcoming, None)
    added = 0

    def take(slug: str, outcome: pa.Table | str) -> None:
        # The frame's rows follow ``unique``: a run joins it once every run before it has.
        nonlocal next_slug, added
        arrived[slug] = outcome
        while next_slug is not None and next_slug in arrived:
            builder.add(_table(next_slug, arrived.pop(next_slug)))
            next_slug = next(upcoming, None)
            added += 1
            if added % RELEASE_EVERY == 0:
                release_memory()

    with client_or_default(client) as active:
        run_batch(active, unique, fetch_run, progress=show, desc="runs", on_result=take, keep=False)
    release_memory()
    return finish(builder.frame(), errors, key=KEY_COLUMN, what="runs' results")


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
    return tables_frame(
        failed_table(slug, outcome)
        if isinstance(outcome, str)
        else rows_table(slug, outcome[0], outcome[1], data_id=data_id)
        for slug, outcome in runs
    )


def _table(slug: str, outcome: pa.Table | str) -> pa.Table:
    return failed_table(slug, outcome) if isinstance(outcome, str) else outcome
