"""Exact money: ``usage`` summed as Arrow decimals, means and ratios as Python Decimals.

Nothing about cost passes through float here. Sums are taken at a width no realistic total can
overflow (Arrow's decimal sum wraps around silently) and narrowed back to the money type of
the tables, which raises instead of wrapping. Means and ratios are rounded half-even to the
run frame's ten decimal places.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coreclaw_frames.schema import USAGE_ARROW_TYPE, USAGE_TOTAL_ARROW_TYPE

__all__ = [
    "MONEY_DTYPE",
    "SUM_ARROW_TYPE",
    "check_money",
    "decimal_sums",
    "money",
    "money_series",
    "ratio",
    "rise",
    "sums_where",
    "total",
    "usage_array",
]

#: The width sums are taken at: wider than any decimal128 total can need.
SUM_ARROW_TYPE = pa.decimal256(76, USAGE_ARROW_TYPE.scale)
#: Money columns of the analysis tables: totals, so wider than one run's cost.
MONEY_DTYPE = pd.ArrowDtype(USAGE_TOTAL_ARROW_TYPE)
#: Digits of precision for Decimal means and ratios: more than any decimal256 value holds.
DECIMAL_PRECISION = 100
USAGE_QUANTUM = Decimal(1).scaleb(-USAGE_ARROW_TYPE.scale)


def usage_array(usage: pd.Series, caller: str) -> pa.Array:
    """``usage`` as a wide Arrow decimal array; TypeError for anything that is not exact."""
    dtype = usage.dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_decimal(dtype.pyarrow_dtype):
        array = pa.array(usage)
    elif pd.api.types.is_object_dtype(dtype) or len(usage) == 0:
        try:
            array = pa.array(usage.astype(object).where(usage.notna(), None), USAGE_ARROW_TYPE)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise TypeError(
                f"{caller}: usage must hold exact decimals (decimal.Decimal or "
                f"pd.ArrowDtype({USAGE_ARROW_TYPE})), got values of dtype {dtype}: {exc}"
            ) from exc
    else:
        raise TypeError(
            f"{caller}: usage must hold exact decimals, pd.ArrowDtype({USAGE_ARROW_TYPE}), "
            f"got dtype {dtype}; floats cannot hold money exactly"
        )
    return array.cast(SUM_ARROW_TYPE)


def total(usage: pa.Array, mask: np.ndarray | None = None) -> Decimal:
    """The exact sum of ``usage`` (where ``mask``), unknown costs counting as none.

    Examples
    --------
    >>> total(pa.array([Decimal("0.1"), None, Decimal("0.2")], SUM_ARROW_TYPE))
    Decimal('0.3000000000')
    """
    if mask is not None:
        usage = usage.filter(pa.array(mask, pa.bool_()))
    value = pc.sum(usage, min_count=0).as_py()
    return money(value if value is not None else Decimal(0)) or Decimal(0)


def decimal_sums(keys: Sequence[pd.Series], usage: pa.Array) -> pd.DataFrame:
    """Exact sum (``Decimal`` or ``None``) and count of known costs per combination of keys."""
    names = [f"key{i}" for i in range(len(keys))]
    table = pa.table({**{n: pa.array(k) for n, k in zip(names, keys, strict=True)}, "v": usage})
    grouped = table.group_by(names, use_threads=False).aggregate([("v", "sum"), ("v", "count")])
    index = (
        pd.MultiIndex.from_arrays([grouped[n].to_pylist() for n in names])
        if len(names) > 1
        else pd.Index(grouped[names[0]].to_pylist())
    )
    return pd.DataFrame(
        {"cost": grouped["v_sum"].to_pylist(), "known": grouped["v_count"].to_pylist()},
        index=index,
        dtype=object,
    )


def money(value: Decimal | None) -> Decimal | None:
    """A Decimal rounded (half-even) to the run frame's usage scale; None stays None."""
    if value is None:
        return None
    with localcontext() as context:
        context.prec = DECIMAL_PRECISION
        return value.quantize(USAGE_QUANTUM, rounding=ROUND_HALF_EVEN)


def ratio(numerator: Decimal | None, denominator: int | Decimal | None) -> Decimal | None:
    """``numerator / denominator`` rounded to the usage scale; None if either is missing or 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    with localcontext() as context:
        context.prec = DECIMAL_PRECISION
        return money(numerator / Decimal(denominator))


def rise(previous: Decimal | None, current: Decimal | None, floor: Decimal) -> Decimal | None:
    """Relative change ``current / previous - 1``; None when either is missing or the
    baseline ``previous`` is below ``floor`` (at or near zero: no meaningful percentage).

    Examples
    --------
    >>> rise(Decimal(100), Decimal(110), Decimal(1)), rise(Decimal("0.5"), Decimal(9), Decimal(1))
    (Decimal('0.1'), None)
    """
    if previous is None or current is None or previous <= 0 or previous < floor:
        return None
    with localcontext() as context:
        context.prec = DECIMAL_PRECISION
        return current / previous - 1


def money_series(values: Iterable[Decimal | None], index: pd.Index) -> pd.Series:
    """Decimals (or None) as a money column of the analysis tables."""
    array = pa.array(list(values), SUM_ARROW_TYPE).cast(USAGE_TOTAL_ARROW_TYPE)
    return pd.Series(pd.arrays.ArrowExtensionArray(array), index=index)


def sums_where(
    keys: Sequence[pd.Series], usage: pa.Array, mask: np.ndarray, index: pd.Index
) -> list[Decimal]:
    """Exact cost per group (``keys``, reindexed to ``index``) of the runs where ``mask``;
    $0 for a group without any known cost."""
    masked = pc.if_else(pa.array(mask, pa.bool_()), usage, pa.scalar(None, usage.type))
    sums = decimal_sums(keys, masked)["cost"].reindex(index)
    return [money(None if pd.isna(cost) else cost) or Decimal(0) for cost in sums]


def check_money(value: object, name: str, caller: str, *, negative: bool = True) -> Decimal:
    """``value`` (a Decimal, a number or a numeric string) as an exact finite Decimal.

    A float goes through its shortest text, ``str(0.1) == "0.1"``, never its binary value.

    Examples
    --------
    >>> check_money(1000.1, "balance", "f"), check_money("25.50", "budget", "f")
    (Decimal('1000.1'), Decimal('25.50'))
    """
    expected = f"{caller}: {name} must be a Decimal, a number or a numeric string"
    amount: Decimal | None
    if isinstance(value, bool):
        raise TypeError(f"{expected}, got {value!r}")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, numbers.Integral):
        amount = Decimal(int(value))
    elif isinstance(value, numbers.Real):
        amount = Decimal(str(float(value)))
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            amount = None
    else:
        raise TypeError(f"{expected}, got {type(value).__name__} {value!r}")
    if amount is None or not amount.is_finite():
        raise ValueError(f"{expected}, got {value!r}")
    if not negative and amount < 0:
        raise ValueError(f"{caller}: {name} must not be negative, got {value!r}")
    return amount
