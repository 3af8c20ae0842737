"""Reading SLUGS: a text file (one slug a line), a CSV file's column, or standard input.

Text: blank lines and lines starting with ``#`` are skipped, any line ending (LF, CRLF) is
fine. CSV (a ``.csv`` file, or ``-`` with ``--column``): the named column, blank cells skipped.
Slugs are checked by :func:`coreclaw_frames._batch.validate_slugs` (whitespace stripped, lower
case read as upper case, duplicates fetched once), and an offender is named by its line.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

from coreclaw_frames._batch import validate_slugs
from coreclaw_frames._errors import brief
from coreclaw_frames.cli._common import CSV_SUFFIX, UsageError

__all__ = ["DEFAULT_COLUMN", "STDIN", "read_slugs"]

#: The SLUGS argument that means standard input.
STDIN = "-"
DEFAULT_COLUMN = "slug"
COMMENT_PREFIX = "#"
#: A byte-order mark (Excel, Notepad) is not part of the first slug, in a file or on stdin.
ENCODING = "utf-8-sig"
BYTE_ORDER_MARK = "\ufeff"
#: How ``validate_slugs`` names an offender: its 1-based position among the values.
_POSITION = re.compile(r"at position (\d+)")

#: (line number, text) of each value read.
Entries = list[tuple[int, str]]


def read_slugs(source: str, column: str | None) -> list[str]:
    """The unique run slugs of ``source`` in input order; a usage error for bad input.

    ``column`` (``--column``) selects a CSV column; ``None`` means ``slug`` for a CSV file.
    """
    name = "standard input" if source == STDIN else source
    as_csv = source.lower().endswith(CSV_SUFFIX) or (source == STDIN and column is not None)
    if column is not None and not as_csv:
        raise UsageError(f"--column needs CSV input (a {CSV_SUFFIX} file, or {STDIN} for stdin)")
    text = _read_text(source)
    entries = _csv_entries(text, column or DEFAULT_COLUMN, name) if as_csv else _lines(text)
    if not entries:
        raise UsageError(f"{name} holds no run slugs")
    try:
        return validate_slugs([value for _, value in entries], name="slugs")
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name}: {_with_lines(str(exc), entries)}") from exc


def _read_text(source: str) -> str:
    try:
        if source == STDIN:
            return sys.stdin.read().removeprefix(BYTE_ORDER_MARK)
        return Path(source).expanduser().read_text(encoding=ENCODING)
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {source}: not UTF-8 text ({exc.reason})") from exc


def _lines(text: str) -> Entries:
    """The non-blank, non-comment lines of ``text`` with their line numbers.

    Examples
    --------
    >>> _lines("# runs\\r\\n01ksfds8xwtjme33c08xmcr6b9\\r\\n\\r\\n  x  \\n")
    [(2, '01ksfds8xwtjme33c08xmcr6b9'), (4, 'x')]
    """
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        value = line.strip()
        if value and not value.startswith(COMMENT_PREFIX):
            entries.append((number, value))
    return entries


def _csv_entries(text: str, column: str, name: str) -> Entries:
    """The non-blank cells of ``column`` with their line numbers."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames
        if not header:
            raise UsageError(f"{name} is empty: expected a CSV header row with {column!r}")
        if column not in header:
            shown = brief(", ".join(repr(field) for field in header))
            raise UsageError(
                f"{name} has no column {column!r} (it has {shown}); name one with --column"
            )
        return [
            (reader.line_num, row[column].strip())
            for row in reader
            if row[column] is not None and row[column].strip()
        ]
    except csv.Error as exc:
        raise UsageError(f"{name}: bad CSV on line {reader.line_num}: {exc}") from exc


def _with_lines(message: str, entries: Entries) -> str:
    """``message`` with each "at position N" replaced by the value's line.

    Examples
    --------
    >>> _with_lines("'x' at position 2", [(3, "a"), (7, "x")])
    "'x' on line 7"
    """
    return _POSITION.sub(lambda match: f"on line {entries[int(match.group(1)) - 1][0]}", message)
