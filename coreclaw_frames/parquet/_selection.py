"""What ``read_parquet`` is asked for: ``columns=`` and ``filters=``, their form checked before
anything is read, their names and types once the stored layout is known."""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from coreclaw_frames.parquet._codec import frame_columns
from coreclaw_frames.parquet._layout import Layout, quote
from coreclaw_frames.schema import DERIVED

#: The comparisons a ``filters`` predicate may make (pyarrow's own list).
FILTER_OPERATORS = ("=", "==", "!=", "<", ">", "<=", ">=", "in", "not in")
FILTER_EXAMPLE = (
    "[('scraper_slug', '=', slug), ('started_at', '>=', pd.Timestamp('2026-01-01', tz='UTC'))]"
)


@dataclass(frozen=True)
class Selection:
    """The columns and rows a read asks for; ``None`` for all of them."""

    columns: tuple[str, ...] | None = None
    filters: pc.Expression | list[Any] | None = None

    @classmethod
    def of(cls, columns: Any, filters: Any) -> Selection | None:
        """The checked selection, None when it selects everything; TypeError/ValueError naming
        what is wrong otherwise."""
        if columns is None and filters is None:
            return None
        return cls(check_columns(columns), check_filters(filters))

    def columns_of(self, layout: Layout, path: Path) -> list[str] | None:
        """The columns asked for, each one the stored frame has; ValueError naming the others."""
        if self.columns is None:
            return None
        available = frame_columns(layout)
        unknown = [name for name in self.columns if name not in available]
        if unknown:
            raise ValueError(
                f"columns {quote(unknown)} not in {str(path)!r}; its columns are {quote(available)}"
            )
        return list(self.columns)

    def expression_for(self, schema: pa.Schema, path: Path) -> pc.Expression | None:
        """The filter as an expression that the stored columns (``schema``) can evaluate;
        ValueError naming a column they lack or a value of the wrong type."""
        if self.filters is None:
            return None
        if isinstance(self.filters, pc.Expression):
            expression = self.filters
        else:
            names = {predicate[0] for conjunction in dnf(self.filters) for predicate in conjunction}
            unknown = sorted(names - set(schema.names))
            if unknown:
                raise ValueError(
                    f"filters name {quote(unknown)}, not columns of {str(path)!r}; its columns "
                    f"are {quote(schema.names)}"
                )
            expression = pq.filters_to_expression(self.filters)
        try:
            ds.dataset(schema.empty_table()).to_table(filter=expression)
        except pa.ArrowException as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(
                f"filters {reprlib.repr(self.filters)} cannot be applied to {str(path)!r}: "
                f"{first_line}; compare each column with a value of its type (times as UTC "
                "timestamps, e.g. pd.Timestamp('2026-01-01', tz='UTC'))"
            ) from exc
        return expression


def check_columns(columns: Any) -> tuple[str, ...] | None:
    if columns is None:
        return None
    if isinstance(columns, str) or not isinstance(columns, Sequence):
        raise TypeError(
            f"columns must be a list of column names, got {type(columns).__name__}: "
            f"{reprlib.repr(columns)}"
            + (f"; wrap it as [{columns!r}]" if isinstance(columns, str) else "")
        )
    names = list(columns)
    if not names:
        raise ValueError("columns is empty; pass None to read every column")
    not_str = [name for name in names if not isinstance(name, str)]
    if not_str:
        raise TypeError(f"columns must be column names (strings), got {quote(not_str)}")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"columns has duplicates: {quote(duplicated)}")
    return tuple(names)


def check_filters(filters: Any) -> pc.Expression | list[Any] | None:
    """``filters`` as given when it is a pyarrow expression or pyarrow's list form (a list of
    ``(column, op, value)`` tuples, all true; or a list of such lists, any of them true)."""
    if filters is None or isinstance(filters, pc.Expression):
        return filters
    if not isinstance(filters, list):
        raise TypeError(
            f"filters must be a list of (column, op, value) tuples or a pyarrow.compute "
            f"Expression, got {type(filters).__name__}: {reprlib.repr(filters)}; for example "
            f"{FILTER_EXAMPLE}"
        )
    if not filters:
        raise ValueError("filters is empty; pass None to read every row")
    for conjunction in dnf(filters):
        if not conjunction:
            raise ValueError(f"filters holds an empty list of predicates: {reprlib.repr(filters)}")
        for predicate in conjunction:
            if not (isinstance(predicate, tuple | list) and len(predicate) == 3):
                raise ValueError(
                    f"each filter must be a (column, op, value) tuple, got "
                    f"{reprlib.repr(predicate)}; for example {FILTER_EXAMPLE}"
                )
            name, operator, _ = predicate
            if not isinstance(name, str):
                raise TypeError(f"a filter's column must be a name (str), got {name!r}")
            if operator not in FILTER_OPERATORS:
                raise ValueError(
                    f"filter on {name!r}: unknown operator {operator!r}; expected one of "
                    f"{', '.join(map(repr, FILTER_OPERATORS))}"
                )
    return filters


def dnf(filters: list[Any]) -> list[list[Any]]:
    """The list form as a list of conjunctions (a flat list is one conjunction), told apart as
    pyarrow does: by whether the first item's first item is itself a list or a tuple."""
    first = filters[0]
    if isinstance(first, list | tuple) and first and isinstance(first[0], list | tuple):
        return filters
    return [filters]


def stored_columns(layout: Layout, columns: list[str], available: list[str]) -> list[str]:
    """What to scan to give ``columns``: them, and a derived column's source where the files
    lack it (``available``: what they hold)."""
    needed = set(columns)
    if layout.kind == "runs":
        needed |= {"usage" for name in columns if name in DERIVED and name not in available}
    return [name for name in layout.names if name in needed]
