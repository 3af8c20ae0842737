"""How values look to people: money, counts, sizes, durations, percentages, times.

One home for formatting, shared by the summary's display, the HTML report and the command
line; values stay exact in the frames, only their text is rounded. :func:`csv_frame` prepares
a frame for a CSV file that people and spreadsheets read: exact costs in plain notation (never
``0E-10``) and durations as ``h:mm:ss``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa

__all__ = [
    "MISSING_TEXT",
    "NOT_APPLICABLE_TEXT",
    "change",
    "count",
    "csv_frame",
    "duration",
    "percent",
    "plain",
    "size",
    "times",
    "timestamp",
    "usd",
    "usd_exact",
]

#: What a missing value shows as.
MISSING_TEXT = "–"
#: What a change shows as when it has no meaningful baseline.
NOT_APPLICABLE_TEXT = "n/a"
#: Decimal places of money: totals, and means and per-1,000-results costs.
TOTAL_PLACES = 2
UNIT_COST_PLACES = 4
#: Decimal places of percentages.
PERCENT_PLACES = 1
BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
BYTES_PER_UNIT = 1024
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
#: How the Styler escapes text from the data in HTML.
HTML = "html"


class _Unset:
    """Stands for a missing value on its way to a formatter: pandas would print ``None``,
    ``NaN`` or ``<NA>`` itself instead of calling the formatter."""

    def __repr__(self) -> str:
        return MISSING_TEXT


_UNSET = _Unset()


def is_missing(value: Any) -> bool:
    """Whether ``value`` is None, NA, NaT or NaN."""
    if value is None or value is pd.NA or value is pd.NaT or value is _UNSET:
        return True
    return bool(pd.isna(value))


def usd(value: Any, places: int = TOTAL_PLACES) -> str:
    """Dollars with thousands separators, rounded half-even to ``places``.

    Examples
    --------
    >>> usd(Decimal("1234.5678")), usd(Decimal("0.00012"), 4), usd(None)
    ('$1,234.57', '$0.0001', '–')
    """
    if is_missing(value):
        return MISSING_TEXT
    return f"${Decimal(value):,.{places}f}"


def usd_exact(value: Any) -> str:
    """Dollars exactly, every digit kept, with thousands separators.

    Examples
    --------
    >>> usd_exact(Decimal("1457.3525251680")), usd_exact(Decimal("0E-10")), usd_exact(None)
    ('$1,457.352525168', '$0', '–')
    """
    if is_missing(value):
        return MISSING_TEXT
    text = format(Decimal(value).normalize(), ",f")
    return "$0" if text == "-0" else f"${text}"


def plain(value: Any) -> str:
    """A Decimal exactly, without exponent or trailing zeros (``""`` when missing).

    Examples
    --------
    >>> plain(Decimal("0E-10")), plain(Decimal("0.0217000000")), plain(Decimal("1E+2"))
    ('0', '0.0217', '100')
    """
    if is_missing(value):
        return ""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text == "-0" else text


def count(value: Any) -> str:
    """An integer with thousands separators.

    Examples
    --------
    >>> count(1234567)
    '1,234,567'
    """
    return MISSING_TEXT if is_missing(value) else f"{int(value):,}"


def size(value: Any) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``11.6 GiB``.

    Examples
    --------
    >>> size(512), size(1536), size(12_454_823_526)
    ('512 B', '1.5 KiB', '11.6 GiB')
    """
    if is_missing(value):
        return MISSING_TEXT
    amount = float(int(value))
    for unit in BYTE_UNITS:
        if abs(amount) < BYTES_PER_UNIT or unit == BYTE_UNITS[-1]:
            return f"{int(amount):,} {unit}" if unit == "B" else f"{amount:,.1f} {unit}"
        amount /= BYTES_PER_UNIT
    raise AssertionError("unreachable")  # pragma: no cover


def duration(value: Any) -> str:
    """A timedelta as ``h:mm:ss`` (whole seconds; hours grow past 24).

    Examples
    --------
    >>> duration(pd.Timedelta(seconds=336)), duration(pd.Timedelta(hours=30, seconds=5))
    ('0:05:36', '30:00:05')
    """
    if is_missing(value):
        return MISSING_TEXT
    seconds = int(pd.Timedelta(value).total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    hours, rest = divmod(seconds, SECONDS_PER_HOUR)
    minutes, seconds = divmod(rest, SECONDS_PER_MINUTE)
    return f"{sign}{hours}:{minutes:02d}:{seconds:02d}"


def percent(value: Any, *, signed: bool = False, places: int = PERCENT_PLACES) -> str:
    """A fraction as a percentage with one decimal: ``95.2%`` (``+15.0%`` when signed).

    Examples
    --------
    >>> percent(0.9523), percent(0.15, signed=True), percent(0.10004, places=2)
    ('95.2%', '+15.0%', '10.00%')
    """
    if is_missing(value):
        return MISSING_TEXT
    sign = "+" if signed else ""
    return f"{float(value) * 100:{sign}.{places}f}%"


def change(value: Any, *, places: int = PERCENT_PLACES) -> str:
    """A relative change as a signed percentage, ``n/a`` when it has none.

    Examples
    --------
    >>> change(0.1), change(None), change(0.1004, places=2)
    ('+10.0%', 'n/a', '+10.04%')
    """
    return NOT_APPLICABLE_TEXT if is_missing(value) else percent(value, signed=True, places=places)


def times(value: Any) -> str:
    """A ratio as a multiple: ``20.0×``.

    Examples
    --------
    >>> times(19.96), times(None)
    ('20.0×', '–')
    """
    return MISSING_TEXT if is_missing(value) else f"{float(value):,.1f}×"


def _one_place(value: Any) -> str:
    return MISSING_TEXT if is_missing(value) else f"{float(value):,.1f}"


def timestamp(value: Any) -> str:
    """A time to the minute, ``2026-03-13 06:36``."""
    return MISSING_TEXT if is_missing(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` ready for ``to_csv``: exact decimals as plain text, durations as ``h:mm:ss``.

    Everything else is left for pandas to write; ``pd.read_csv`` reads the costs back exactly
    with ``converters={"usage": lambda text: decimal.Decimal(text) if text else None}`` (a run
    without a cost has an empty cell).

    Examples
    --------
    >>> df = pd.DataFrame({"usage": pd.array([Decimal("0E-10")], pd.ArrowDtype(
    ...     pa.decimal128(18, 10)))})
    >>> csv_frame(df).to_csv(index=False)
    'usage\\n0\\n'
    """
    columns = {}
    for name in frame.columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.ArrowDtype) and pa.types.is_decimal(dtype.pyarrow_dtype):
            columns[name] = frame[name].map(plain, na_action="ignore").astype(object)
        elif pd.api.types.is_timedelta64_dtype(dtype):
            columns[name] = [None if is_missing(v) else duration(v) for v in frame[name]]
    return frame.assign(**columns) if columns else frame


def _money4(value: Any) -> str:
    return usd(value, UNIT_COST_PLACES)


_COUNTS = ("runs", "previous_runs", "succeeded", "failed", "aborted", "results")
_DURATIONS = ("duration", "median_duration", "p95_duration", "previous_median_duration")
_UNIT_COSTS = (
    "cost",
    "usual_cost",
    "usage",
    "usage_float",
    "mean_cost",
    "cost_per_1k_results",
    "previous_cost_per_1k_results",
)
_TOTALS = (
    "total_cost",
    "failed_cost",
    "aborted_cost",
    "in_progress_cost",
    "failed_or_aborted_cost",
)
#: How each column of the analysis tables (and a run frame's own) is shown, by name.
SCREEN_FORMATS: dict[str, Any] = {
    **dict.fromkeys(_COUNTS, count),
    **dict.fromkeys(_DURATIONS, duration),
    **dict.fromkeys(_UNIT_COSTS, _money4),
    **dict.fromkeys(_TOTALS, usd),
    **dict.fromkeys(("duration_change", "cost_change"), change),
    **dict.fromkeys(("success_rate", "failed_or_aborted_share"), percent),
    "traffic": size,
    "times_usual": times,
    "score": _one_place,
}


class ReadableFrame(pd.DataFrame):
    """A DataFrame of exact values that shows them readably.

    The values stay as they are (exact ``Decimal`` money, timedeltas, fractions); only their
    text changes: money in dollars, rates as percentages, durations as ``h:mm:ss``, traffic
    in binary units, in Jupyter (a pandas ``Styler``) and when printed. ``to_csv`` writes
    money exactly in plain notation and durations as ``h:mm:ss``. Frames derived from it
    (``.loc``, ``.head()``, ...) show the same way.
    """

    @property
    def _constructor(self) -> type[ReadableFrame]:
        return ReadableFrame

    def _formats(self) -> dict[str, Any]:
        return {name: SCREEN_FORMATS[name] for name in self.columns if name in SCREEN_FORMATS}

    def _with_unset(self) -> pd.DataFrame:
        """A plain copy whose formatted columns hold :data:`_UNSET` for missing values."""
        plain = pd.DataFrame(self)
        for position, name in enumerate(self.columns):
            if name in SCREEN_FORMATS:
                column = plain.iloc[:, position]
                if column.isna().any():
                    plain.isetitem(position, column.astype(object).where(column.notna(), _UNSET))
        return plain

    def __repr__(self) -> str:
        return self._with_unset().to_string(
            formatters=self._formats(),
            justify="right",
            max_rows=pd.get_option("display.max_rows"),
            min_rows=pd.get_option("display.min_rows"),
            max_cols=pd.get_option("display.max_columns"),
            line_width=pd.get_option("display.width"),
        )

    def _repr_html_(self) -> str:
        # Like a DataFrame, a long frame shows its first rows only (a Styler would show all).
        most = pd.get_option("display.max_rows")
        rows = pd.get_option("display.min_rows") if most is not None and len(self) > most else None
        # Formatters show missing values their own way ("n/a" for a change); others show "–".
        # Text from the data (worker titles, in cells, labels and names) is escaped, as plain
        # pandas does: a title such as "<img onerror=...>" shows as written and never runs.
        styled = self.style.format(na_rep=MISSING_TEXT, escape=HTML).format(
            self._formats(), escape=HTML
        )
        for axis in (0, 1):
            styled = styled.format_index(escape=HTML, axis=axis).format_index_names(
                escape=HTML, axis=axis
            )
        return styled.to_html(max_rows=rows, max_columns=pd.get_option("display.max_columns"))

    def to_csv(self, *args: Any, **kwargs: Any) -> Any:
        """``DataFrame.to_csv`` of :func:`csv_frame` of this frame."""
        return pd.DataFrame(csv_frame(self)).to_csv(*args, **kwargs)
