"""Run frames and results frames as Arrow tables, and back: for Polars, DuckDB and friends.

Frames are built as Arrow tables (:func:`coreclaw_frames._records.records_to_table` for runs,
column by column for results) and turned into pandas once, at the end. :func:`to_arrow` gives
that table back from a frame, with every type as the run schema has it (``usage`` an exact
``decimal128(18, 10)``, ``status`` an ordered dictionary, UTC timestamps), so that any Arrow
library takes it as it is; :func:`from_arrow` types a table as the frame again.

Examples
--------
>>> import polars as pl  # doctest: +SKIP
>>> runs = pl.from_arrow(ccf.to_arrow(df))  # doctest: +SKIP
>>> runs["usage"].dtype  # doctest: +SKIP
Decimal(precision=18, scale=10)
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from coreclaw_frames.parquet._codec import arrow_to_frame, frame_to_arrow

__all__ = ["from_arrow", "to_arrow"]


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A run frame or a results frame as a ``pyarrow.Table``, exactly.

    Parameters
    ----------
    frame : pandas.DataFrame
        A run frame (every column of :data:`~coreclaw_frames.RUN_COLUMNS` with its dtype, plus
        any columns you added) or a results frame (first column ``run_slug``), as
        :func:`~coreclaw_frames.to_parquet` takes them. The index is not kept.

    Returns
    -------
    pyarrow.Table
        For a run frame, the run columns with the types and descriptions of
        :func:`~coreclaw_frames.schema.run_arrow_schema` (``usage`` an exact
        ``decimal128(18, 10)``, never a float) and the schema version in the metadata; any
        other column with the Arrow type of its dtype (``Int64`` as ``int64``, an
        ``ArrowDtype`` as its own type). An ``object`` column (mixed types) becomes text, as in
        :func:`~coreclaw_frames.to_parquet`.

    Raises
    ------
    TypeError, ValueError
        A frame that is neither kind, or that Arrow cannot hold (as ``to_parquet``).

    Examples
    --------
    Polars with exact money (``pip install 'coreclaw-frames[polars]'``):

    >>> import polars as pl  # doctest: +SKIP
    >>> runs = pl.from_arrow(ccf.to_arrow(df))  # doctest: +SKIP
    >>> runs.group_by("scraper_title").agg(pl.col("usage").sum())  # doctest: +SKIP

    DuckDB reads the table by its variable name:

    >>> runs = ccf.to_arrow(df)  # doctest: +SKIP
    >>> duckdb.sql("SELECT status, sum(usage) FROM runs GROUP BY status")  # doctest: +SKIP
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    return frame_to_arrow(frame)


def from_arrow(table: pa.Table) -> pd.DataFrame:
    """The run frame or results frame of a ``pyarrow.Table``: the inverse of :func:`to_arrow`.

    Parameters
    ----------
    table : pyarrow.Table
        A run table (every run column but the derived ``usage_float``; from
        :func:`to_arrow`, :func:`~coreclaw_frames._records.records_to_table`, Polars'
        ``to_arrow()``, DuckDB, ...) or a results table (first column ``run_slug``). A run
        column may hold any type of its kind, cast to the run type without loss: text as
        ``large_string`` or ``string_view``, times in any unit with a timezone, ``usage`` as a
        decimal of any precision (never a float).

    Returns
    -------
    pandas.DataFrame
        Run columns typed as :func:`~coreclaw_frames.fetch_runs` types them (a missing
        ``usage_float`` computed from ``usage``, at the end); any other column by its Arrow
        type: ``int64``, ``float64`` and ``bool`` as ``Int64``, ``Float64`` and ``boolean``, a
        dictionary as a categorical, anything else as a ``pd.ArrowDtype``.

    Raises
    ------
    TypeError, ValueError
        Not a table, a table of neither kind, or a run column of the wrong kind or whose values
        its run type cannot hold exactly (named in the message).

    Examples
    --------
    >>> df = ccf.from_arrow(polars_runs.to_arrow())  # doctest: +SKIP
    >>> df.dtypes["usage"]  # doctest: +SKIP
    decimal128(18, 10)[pyarrow]
    """
    return arrow_to_frame(table)
