"""One paginator for every paged list: Run History and a run's scraped rows.

The lists are live. Run History is newest first, and a run started while we read pushes every
older run one place down, across page boundaries; a running run's results grow at the end.
Reading pages in parallel and trusting ``count`` loses items. So :func:`read_all` works with
*ranks*, positions counted from the end of the list that does not move: from the bottom for
Run History (``grows_at="top"``), from the top for results (``grows_at="bottom"``). Each page
answer carries the ``count`` it was cut from, which fixes the ranks of its items whatever
arrived since. The target is every item that existed when the listing began (the first
page's ``count``); items that arrive meanwhile are kept when seen, never chased, so a list
growing faster than it is read still ends. After the first pass the ranks not yet seen are
mapped to pages of the latest ``count`` and fetched again, until every rank is covered and the
distinct items match the count; a list that never gets there raises
:class:`ListingIncompleteError`.

Pages may be fetched in any order and in parallel (``fetch_many``); nothing here sleeps or
knows the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from coreclaw_frames._errors import TransportError, brief, quoted
from coreclaw_frames.api._dialect import Page

__all__ = [
    "CATCH_UP_ROUNDS",
    "MAX_COUNT",
    "ListingIncompleteError",
    "fetch_in_turn",
    "read_all",
]

#: Rounds of re-reading, in parallel, the pages that the items not seen yet moved to.
CATCH_UP_ROUNDS = 3
#: A ``count`` above this is not believed (nothing is allocated for it).
MAX_COUNT = 50_000_000
#: Pages scheduled at once in the first pass (an inconsistent answer stops it between chunks).
FIRST_PASS_CHUNK = 64

Grows = Literal["top", "bottom"]
FetchPage = Callable[[int, int], Page]
FetchMany = Callable[[Callable[[int], Page], list[int]], dict[int, Page]]


class ListingIncompleteError(TransportError):
    """A paged list could not be read completely: pages kept shifting, came back short, or
    disagreed with the server's ``count``."""


def fetch_in_turn(fetch: Callable[[int], Page], pages: list[int]) -> dict[int, Page]:
    """The default ``fetch_many``: one page after another."""
    return {page: fetch(page) for page in pages}


@dataclass
class _Seen:
    """What one page answer says: the ranks it covers and its items by rank."""

    low: int
    high: int  # exclusive


def read_all(
    fetch: FetchPage,
    *,
    page_size: int,
    grows_at: Grows,
    what: str,
    key: Callable[[Any], Hashable] | None = None,
    limit: int | None = None,
    older: Callable[[Any], bool] | None = None,
    fetch_many: FetchMany = fetch_in_turn,
) -> list[Any]:
    """Every item of a paged list as it was when the first page was read, in list order,
    each once (newest-first lists also keep newer items that were seen).

    Parameters
    ----------
    fetch : callable
        ``fetch(page, page_size)`` returns one :class:`Page` (``page`` is 1-based).
    page_size : int
        The page size to ask for; a server that serves smaller pages is followed.
    grows_at : {"top", "bottom"}
        ``"top"`` for newest-first lists (Run History), ``"bottom"`` for appending ones.
    what : str
        Names the list in errors (``"Run History"``).
    key : callable, optional
        An item's identity (a run's slug); ``None``: items are told apart by position.
    limit : int, optional
        Only the first ``limit`` items of the list (the newest when the listing began, for
        Run History).
    older : callable, optional
        For newest-first lists: items for which it is true, and all after them, are not
        wanted; paging stops at the first page holding only such items.
    fetch_many : callable, default fetch_in_turn
        ``fetch_many(fetch_one, pages)`` fetches several pages, maybe concurrently.

    Examples
    --------
    >>> data = list(range(250))
    >>> def fetch(page, size):
    ...     return Page(count=len(data), items=data[(page - 1) * size : page * size])
    >>> read_all(fetch, page_size=100, grows_at="bottom", what="rows") == data
    True
    """
    reader = _Reader(fetch, page_size, grows_at, what, key, limit, older)
    reader.add(1, fetch(1, page_size))
    reader.follow_page_size()
    for chunk in _chunks(reader.first_pass_pages(), growing=older is not None):
        reader.fetch_all(fetch_many, chunk)
        if reader.floor is not None:
            break
    for _ in range(CATCH_UP_ROUNDS):
        pages = reader.missing_pages()
        if not pages:
            break
        reader.fetch_all(fetch_many, pages)
    reader.scan()
    if not reader.complete():
        # Every rank was seen, yet items repeat: pages were cut from data that moved in a way
        # ranks cannot follow. Read the whole listing once more, in order.
        reader.restart()
        reader.scan()
        if not reader.complete():
            raise ListingIncompleteError(reader.shortfall())
    return reader.items()


class _Reader:
    """The state of one :func:`read_all`: pages seen, items by rank, the latest count."""

    def __init__(
        self,
        fetch: FetchPage,
        page_size: int,
        grows_at: Grows,
        what: str,
        key: Callable[[Any], Hashable] | None,
        limit: int | None,
        older: Callable[[Any], bool] | None,
    ) -> None:
        self.fetch = fetch
        self.size = page_size
        self.grows_at = grows_at
        self.what = what
        self.key = key
        self.limit = limit
        self.older = older
        self.count = 0
        self.first_count: int | None = None
        self.floor: int | None = None  # lowest wanted rank, once an all-older page was seen
        self.covered: list[_Seen] = []
        self.by_rank: dict[int, Any] = {}
        self.growth = 0  # how much the count grew during the last round of fetches

    # --- recording answers ------------------------------------------------------------------

    def add(self, page: int, answer: Page) -> None:
        count, items = answer.count, answer.items
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise TransportError(
                f"malformed answer: {self.what} page {page} has count {quoted(count)}"
            )
        if count > MAX_COUNT:
            raise TransportError(
                f"malformed answer: {self.what} page {page} claims {brief(f'{count:,}')} items, "
                f"more than the {MAX_COUNT:,} this reader believes"
            )
        self.count = count
        if self.first_count is None:
            self.first_count = count
        offset = (page - 1) * self.size
        if not items and offset < count:
            raise ListingIncompleteError(
                f"{self.what} incomplete: page {page} came back empty although the server "
                f"counts {count:,} items"
            )
        ranks = [self._rank(count, offset + i) for i in range(len(items))]
        for rank, item in zip(ranks, items, strict=True):
            self.by_rank[rank] = item
        if ranks:
            self.covered.append(_Seen(min(ranks), max(ranks) + 1))
        if self.older is not None and items and all(self.older(item) for item in items):
            top = max(ranks) + 1
            self.floor = top if self.floor is None else max(self.floor, top)

    def _rank(self, count: int, position: int) -> int:
        return count - 1 - position if self.grows_at == "top" else position

    def _position(self, rank: int) -> int:
        return self.count - 1 - rank if self.grows_at == "top" else rank

    def follow_page_size(self) -> None:
        """A server that answers page 1 with fewer (or more) items than asked, while more
        exist, pages at its own size: follow it."""
        served = len(self.by_rank)
        if 0 < served < self.count and served != self.size:
            self.size = served

    def fetch_all(self, fetch_many: FetchMany, pages: list[int]) -> None:
        if not pages:
            return
        before = self.count
        answers = fetch_many(lambda page: self.fetch(page, self.size), pages)
        for page in sorted(answers):
            self.add(page, answers[page])
        self.growth = max(0, self.count - before)

    # --- what is still needed -----------------------------------------------------------------

    def wanted(self) -> range:
        """The ranks the caller wants: of the items there when the listing began (or of those
        still there, for a list that shrank)."""
        count = min(self.count, self.first_count or 0)
        n = count if self.limit is None else min(count, self.limit)
        low, high = (count - n, count) if self.grows_at == "top" else (0, n)
        if self.floor is not None:
            low = max(low, self.floor)
        return range(low, max(low, high))

    def first_pass_pages(self) -> range:
        wanted = self.wanted()
        if not wanted:
            return range(2, 2)
        last_position = max(self._position(wanted.start), self._position(wanted.stop - 1))
        return range(2, last_position // self.size + 2)

    def _uncovered(self) -> list[int]:
        wanted = self.wanted()
        covered = sorted((s.low, s.high) for s in self.covered)
        missing: list[int] = []
        cursor = wanted.start
        for low, high in covered:
            if high <= cursor:
                continue
            if low > cursor:
                missing.extend(range(cursor, min(low, wanted.stop)))
            cursor = max(cursor, high)
            if cursor >= wanted.stop:
                break
        missing.extend(range(cursor, wanted.stop))
        return missing

    def _distinct(self) -> int:
        items = [self.by_rank[r] for r in self.wanted() if r in self.by_rank]
        if self.key is None:
            return len(items)
        return len({self.key(item) for item in items})

    def missing_pages(self) -> list[int]:
        """Pages (of the latest count) where the wanted items not seen yet are now."""
        # While the next round is in flight the list grows about as much as during the last
        # one, pushing each missing item down by up to that many places.
        shift = self.growth if self.grows_at == "top" else 0
        return sorted(
            {
                page
                for position in map(self._position, self._uncovered())
                for page in range(position // self.size + 1, (position + shift) // self.size + 2)
            }
        )

    def scan(self) -> None:
        """Read pages one after another, in list order, from the first missing item on.

        Items only ever move down the list, so reading in order overtakes every one of them
        unless the list grows by a page or more per request (then nothing can read it: stop).
        Each page read gains on the end of the list, so the scan ends.
        """
        page = 1
        while missing := self._uncovered():
            page = max(page, min(map(self._position, missing)) // self.size + 1)
            if (page - 1) * self.size >= self.count:
                return  # past the end of the list: those items are gone
            before = self.count
            self.add(page, self.fetch(page, self.size))
            if self.count - before >= self.size:
                return
            page += 1

    def complete(self) -> bool:
        return not self._uncovered() and self._distinct() == len(self.wanted())

    def restart(self) -> None:
        self.covered.clear()
        self.by_rank.clear()

    def items(self) -> list[Any]:
        wanted = self.wanted()
        if self.grows_at == "bottom":
            items = [self.by_rank[rank] for rank in wanted]
        else:
            newer = [] if self.limit is not None else [r for r in self.by_rank if r >= wanted.stop]
            ranks = sorted(newer, reverse=True) + list(reversed(wanted))
            items = [self.by_rank[rank] for rank in ranks]
        if self.key is None:
            return items
        unique: dict[Hashable, Any] = {}
        for item in items:
            unique.setdefault(self.key(item), item)
        return list(unique.values())

    def shortfall(self) -> str:
        return (
            f"{self.what} incomplete: the server counts {len(self.wanted()):,} items, "
            f"{self._distinct():,} distinct ones arrived after re-reading the pages that moved"
        )


def _chunks(pages: range, *, growing: bool) -> Iterable[list[int]]:
    """``pages`` in chunks: of FIRST_PASS_CHUNK, or 1, 2, 4, ... when a page may end the
    listing early (so at most as many pages are read past the end as before it)."""
    size = 1 if growing else FIRST_PASS_CHUNK
    start = pages.start
    while start < pages.stop:
        yield list(range(start, min(start + size, pages.stop)))
        start += size
        if growing:
            size = min(size * 2, FIRST_PASS_CHUNK)
