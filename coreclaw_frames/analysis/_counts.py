"""Exact totals of counts (results, traffic bytes, runs): never wrapped around.

pandas sums an ``Int64`` column in int64, which wraps silently past 2**63 - 1 (a traffic total
would show as negative bytes). Counts are summed here as Arrow decimals of 38 digits, which no
int64 column can overflow, and a total that does not fit ``Int64`` raises an
:class:`OverflowError` naming its column. Frames read from the API never come near it (a run
reports under 2**40 results and 1 PiB of traffic: see ``coreclaw_frames._records``); frames
built by hand or read from elsewhere may.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["COUNT_DTYPE", "INT64_MAX", "count_array", "count_sums", "count_total"]

#: The dtype of every count column of the analysis tables.
COUNT_DTYPE = "Int64"
#: The largest total a count column holds.
INT64_MAX = 2**63 - 1
#: The width counts are summed at: wider than any sum of int64 values can need.
_SUM_TYPE = pa.decimal128(38, 0)


def count_array(values: pd.Series, name: str, caller: str) -> pa.Array:
    """``values`` as an Arrow array ready to sum exactly; TypeError unless they are integers.

    Examples
    --------
    >>> count_array(pd.Series([1, None], dtype="Int64"), "results", "f").to_pylist()
    [Decimal('1'), None]
    """
    if not pd.api.types.is_integer_dtype(values.dtype):
        raise TypeError(
            f"{caller}: {name} must be integers (Int64), got dtype {values.dtype}; for a frame "
            f"read from CSV: df[{name!r}] = df[{name!r}].astype('Int64')"
        )
    return pa.array(values).cast(_SUM_TYPE)


def _checked(total: object, name: str, caller: str) -> int:
    value = 0 if total is None else int(total)  # type: ignore[call-overload]
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise OverflowError(
            f"{caller}: the total of {name} is {value:,}, beyond what Int64 holds "
            f"({INT64_MAX:,}); no run reports that much (check the frame's {name} values)"
        )
    return value


def count_total(values: pd.Series, name: str, caller: str) -> int:
    """The exact total of the count column ``values`` (missing values count as none).

    Examples
    --------
    >>> count_total(pd.Series([2**62, 2**62 - 1, None], dtype="Int64"), "traffic", "f")
    9223372036854775807
    >>> count_total(pd.Series([2**62, 2**62], dtype="Int64"), "traffic", "f")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    OverflowError: f: the total of traffic is 9,223,372,036,854,775,808, beyond what Int64 ...
    """
    return _checked(pc.sum(count_array(values, name, caller)).as_py(), name, caller)


def count_sums(
    values: pd.Series, keys: Sequence[pd.Series], index: pd.Index, name: str, caller: str
) -> pd.Series:
    """The exact total of ``values`` per combination of ``keys``, as an Int64 column in the
    order of ``index`` (0 for a group without any known value).

    Examples
    --------
    >>> count_sums(pd.Series([1, 2, 3], dtype="Int64"), [pd.Series(["a", "b", "a"])],
    ...            pd.Index(["b", "a", "c"]), "results", "f").tolist()
    [2, 4, 0]
    """
    names = [f"key{i}" for i in range(len(keys))]
    table = pa.table(
        {
            **{n: pa.array(k) for n, k in zip(names, keys, strict=True)},
            "v": count_array(values, name, caller),
        }
    )
    grouped = table.group_by(names, use_threads=False).aggregate([("v", "sum")])
    groups = [grouped[n].to_pylist() for n in names]
    totals = dict(
        zip(
            zip(*groups, strict=True) if len(names) > 1 else groups[0],
            grouped["v_sum"].to_pylist(),
            strict=True,
        )
    )
    return pd.Series(
        [_checked(totals.get(key), name, caller) for key in index],
        index=index,
        dtype=COUNT_DTYPE,
    )
