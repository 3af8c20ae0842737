"""Worker versions in version order: ``v1.0.9`` before ``v1.0.10``, ``latest`` after both.

Versions are parsed with :class:`packaging.version.Version` (PEP 440, which also takes a
leading ``v``, ``-rc.1``, ``-beta``, ``.post1`` and ``+build``). A label it cannot parse
still gets a place: a number followed by an unknown suffix (``1.0.10-hotfix``) sorts just
before that number's release, and a name without a number (``latest``, ``main``) after every
numbered version, names in natural order (``build-9`` before ``build-10``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from packaging.version import InvalidVersion, Version

__all__ = ["VersionKey", "version_key"]

_NUMBERED_PREFIX_RE = re.compile(
    r"^\s*v?(\d+(?:\.\d+)*)(.*)$", re.IGNORECASE | re.ASCII | re.DOTALL
)
_NATURAL_SPLIT_RE = re.compile(r"(\d+)", re.ASCII)
# Kinds of version label, in sort order.
_KIND_NUMBERED = 0
_KIND_NAMED = 1
_KIND_MISSING = 2
# Within one number: an unknown suffix sorts before the parsed version itself.
_RANK_UNKNOWN_SUFFIX = 0
_RANK_PARSED = 1

NaturalKey = tuple[tuple[int, int, str], ...]
VersionKey = tuple[int, Version | int, int, NaturalKey, str]


def _number_key(digits: str) -> tuple[int, str]:
    """Orders digit strings as numbers without int(): no size limit, no leading zeros."""
    stripped = digits.lstrip("0")
    return (len(stripped), stripped)


def _natural_key(text: str) -> NaturalKey:
    """Split text into digit runs (compared as numbers) and other runs (compared as text)."""
    parts = (p for p in _NATURAL_SPLIT_RE.split(text) if p)
    return tuple((0, *_number_key(p)) if p.isdigit() else (1, 0, p) for p in parts)


def _parse(text: str) -> Version | None:
    try:
        return Version(text)
    except (InvalidVersion, ValueError):  # ValueError: numbers beyond int()'s digit limit
        return None


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and bool(np.isnan(value))


def version_key(version: object) -> VersionKey:
    """Sort key that orders version labels as versions; never raises.

    Equal versions (``1.2`` and ``1.2.0``) are ordered by their text. Missing values and
    ``NaN`` sort last.

    Examples
    --------
    >>> sorted(["v1.0.10", "latest", "v1.0.9", "1.2", "v1.0.10-rc1"], key=version_key)
    ['v1.0.9', 'v1.0.10-rc1', 'v1.0.10', '1.2', 'latest']
    """
    if _is_missing(version):
        return (_KIND_MISSING, 0, 0, (), "")
    raw = version if isinstance(version, str) else str(version)
    parsed = _parse(raw)
    if parsed is not None:
        return (_KIND_NUMBERED, parsed, _RANK_PARSED, (), raw)
    match = _NUMBERED_PREFIX_RE.match(raw)
    prefix = _parse(match.group(1)) if match else None
    if match is not None and prefix is not None:
        suffix = _natural_key(match.group(2).lower())
        return (_KIND_NUMBERED, prefix, _RANK_UNKNOWN_SUFFIX, suffix, raw)
    return (_KIND_NAMED, 0, 0, _natural_key(raw.strip().lower()), raw)
