"""The files of v2's results export: a run's rows rendered as JSON Lines, JSON or CSV, cached.

A file holds exactly the rows the paged results endpoint returns for the run, in order, the same
objects with the same key order and values; ``filter_keys`` keeps only some top-level keys, in
each row's own order. JSON Lines is one compact object per line, each line ending in ``\\n``;
JSON one array; CSV a header of flattened dotted keys (``author.name``) in order of first
appearance, lists and empty objects JSON-encoded, null empty, booleans ``true``/``false``. A run
without rows gives an empty file in every format but JSON (``[]``).

Rendering a big run costs far more than serving it, so each file is rendered once and its bytes
kept in a `FileCache`, a least-recently-used cache bounded in bytes.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

from coreclaw_frames.sandbox._workers import Row

__all__ = [
    "EXPORT_FORMATS",
    "RENDERED_FORMATS",
    "FileCache",
    "chunks",
    "content_type",
    "flatten",
    "render",
]

EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "jsonl", "xlsx", "xls", "xml", "html", "rss")
"""The formats CoreClaw's export endpoint documents; the first is the default."""

RENDERED_FORMATS: tuple[str, ...] = ("csv", "json", "jsonl")
"""The formats the sandbox renders; it refuses the other documented ones."""

_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "jsonl": "application/jsonl; charset=utf-8",
}

DEFAULT_CACHE_BYTES = 256 << 20
"""How many bytes of rendered files the cache keeps at most."""

CHUNK_BYTES = 64 << 10
"""A file is written to the socket in pieces of this size."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def select(rows: Sequence[Row], keys: Sequence[str]) -> list[Row]:
    """Each row with only the top-level `keys` (in the row's own key order); all of it when
    `keys` is empty."""
    if not keys:
        return list(rows)
    wanted = set(keys)
    return [{key: value for key, value in row.items() if key in wanted} for row in rows]


def flatten(row: Row, prefix: str = "") -> dict[str, Any]:
    """A row's cells by dotted column name: nested objects spread into columns, everything
    else kept as it is.

    Examples
    --------
    >>> flatten({"a": 1, "author": {"name": "Ana", "geo": {"lat": 1.5}}, "tags": ["x"]})
    {'a': 1, 'author.name': 'Ana', 'author.geo.lat': 1.5, 'tags': ['x']}
    """
    cells: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            cells.update(flatten(value, f"{name}."))
        else:
            cells[name] = value
    return cells


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _dumps(value)  # numbers as JSON writes them, true/false, lists and {} as JSON


def _csv(rows: Sequence[Row]) -> bytes:
    flat = [flatten(row) for row in rows]
    columns = list(dict.fromkeys(name for cells in flat for name in cells))
    if not columns:
        return b""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([_cell(cells.get(name)) for name in columns] for cells in flat)
    return out.getvalue().encode()


def render(rows: Sequence[Row], fmt: str, keys: Sequence[str] = ()) -> bytes:
    """The export file of `rows` in format `fmt` (one of `RENDERED_FORMATS`).

    Examples
    --------
    >>> rows = [{"id": 1, "seller": {"name": "Ana"}, "tags": ["a", "b"]}, {"id": 2, "x": None}]
    >>> render(rows, "jsonl")
    b'{"id":1,"seller":{"name":"Ana"},"tags":["a","b"]}\\n{"id":2,"x":null}\\n'
    >>> render(rows, "csv", keys=["id", "seller"]).decode().splitlines()
    ['id,seller.name', '1,Ana', '2,']
    """
    chosen = select(rows, keys)
    if fmt == "jsonl":
        return "".join(_dumps(row) + "\n" for row in chosen).encode()
    if fmt == "json":
        return _dumps(chosen).encode()
    if fmt == "csv":
        return _csv(chosen)
    raise ValueError(f"the sandbox renders {', '.join(RENDERED_FORMATS)}, not {fmt!r}")


def content_type(fmt: str) -> str:
    """The Content-Type of a file in format `fmt`."""
    return _CONTENT_TYPES[fmt]


def chunks(
    data: bytes, stop: int | None = None, *, on_chunk: Callable[[int], None]
) -> Iterator[bytes]:
    """`data` (up to `stop` bytes) in pieces of `CHUNK_BYTES`, telling `on_chunk` each piece's
    size as it goes out."""
    view = memoryview(data)[: len(data) if stop is None else stop]
    for start in range(0, len(view), CHUNK_BYTES):
        piece = bytes(view[start : start + CHUNK_BYTES])
        on_chunk(len(piece))
        yield piece


class FileCache:
    """Rendered files by key, least recently used dropped first, at most `budget` bytes in all.

    Each key is rendered once even when several threads ask for it at the same time; a file
    larger than the whole budget is rendered and served but not kept.

    Examples
    --------
    >>> cache = FileCache(budget=10)
    >>> cache.get("a", lambda: b"123456"), cache.get("a", lambda: b"other")
    (b'123456', b'123456')
    >>> cache.get("b", lambda: b"7890ab"), "a" in cache, cache.size
    (b'7890ab', False, 6)
    """

    def __init__(self, budget: int = DEFAULT_CACHE_BYTES) -> None:
        self.budget = budget
        self._files: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._rendering: dict[Hashable, threading.Lock] = {}

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._files

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def _lookup(self, key: Hashable) -> bytes | None:
        with self._lock:
            data = self._files.get(key)
            if data is not None:
                self._files.move_to_end(key)
            return data

    def get(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        """The file of `key`, rendered by `make` if it is not held."""
        data = self._lookup(key)
        if data is not None:
            return data
        with self._lock:
            key_lock = self._rendering.setdefault(key, threading.Lock())
        with key_lock:
            data = self._lookup(key)
            if data is None:
                data = make()
                self._keep(key, data)
        with self._lock:
            self._rendering.pop(key, None)
        return data

    def _keep(self, key: Hashable, data: bytes) -> None:
        if len(data) > self.budget:
            return
        with self._lock:
            self._files[key] = data
            self._size += len(data)
            while self._size > self.budget:
                _, dropped = self._files.popitem(last=False)
                self._size -= len(dropped)
