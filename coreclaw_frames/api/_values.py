"""What the values the API sends mean, whatever its version: run statuses, run slugs, times.

This module imports neither pandas nor any HTTP library, so the schema, the Parquet files and
the analysis read these rules without loading the client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "EARLIEST_TIME",
    "FINAL_STATUSES",
    "LATEST_TIME",
    "MS_PER_SECOND",
    "SLUG_PATTERN",
    "STATUS_LABELS",
    "in_milliseconds",
    "is_final",
    "time_seconds",
]

#: Run statuses in lifecycle order, shared by every API version. v1's codes 1-5 are ready,
#: running, succeeded, failed and aborted; v2 reports an abort as ``aborting``.
STATUS_LABELS = ("ready", "running", "succeeded", "failed", "aborting", "aborted")
#: Statuses after which a run never changes (``aborting`` is final once it has an end time).
FINAL_STATUSES = frozenset({"succeeded", "failed", "aborted"})
#: A run slug (and a worker's id) is a ULID: 26 characters of Crockford base32, the first at
#: most 7.
SLUG_PATTERN = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
#: Times are unix seconds from 2000-01-01 to 2200-01-01 (0 means "none" or "not yet"); the
#: same range in milliseconds is read as milliseconds.
EARLIEST_TIME = 946_684_800
LATEST_TIME = 7_258_118_400
MS_PER_SECOND = 1000


def is_final(record: Mapping[str, Any]) -> bool:
    """Whether a canonical run record can never change again (so it may be cached).

    Examples
    --------
    >>> is_final({"status": "aborting", "finished_at": 1773383790})
    True
    >>> is_final({"status": "aborting", "finished_at": 0}), is_final({"status": "paused"})
    (False, False)
    """
    status = record.get("status")
    if status in FINAL_STATUSES:
        return True
    finished = record.get("finished_at")
    return status == "aborting" and isinstance(finished, int) and finished > 0


def in_milliseconds(value: int) -> bool:
    """Whether the integer time ``value`` is one of the accepted range in milliseconds.

    Examples
    --------
    >>> in_milliseconds(1773305309123), in_milliseconds(1773305309)
    (True, False)
    """
    return EARLIEST_TIME * MS_PER_SECOND <= value < LATEST_TIME * MS_PER_SECOND


def time_seconds(value: int) -> int | None:
    """Unix seconds of a time the API sent: seconds from 2000 to 2200, the same range in
    milliseconds read as milliseconds, 0 meaning none (kept as 0); ``None`` for anything else.

    Examples
    --------
    >>> time_seconds(1773305309), time_seconds(1773305309123), time_seconds(0), time_seconds(-5)
    (1773305309, 1773305309, 0, None)
    """
    seconds = value // MS_PER_SECOND if in_milliseconds(value) else value
    return seconds if seconds == 0 or EARLIEST_TIME <= seconds < LATEST_TIME else None
