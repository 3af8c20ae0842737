"""The paginator: pure logic against simulated live lists, no network."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coreclaw_frames._errors import TransportError
from coreclaw_frames.api._dialect import Page
from coreclaw_frames.api._paging import MAX_COUNT, ListingIncompleteError, read_all


class NewestFirst:
    """A Run History: items are ints, the newest (largest) first; ``grow`` runs arrive
    before each page answer."""

    def __init__(self, n, *, grow=0, serve_at_most=None):
        self.items = list(range(n, 0, -1))
        self.grow = grow
        self.serve_at_most = serve_at_most
        self.requests = 0

    def fetch(self, page, size):
        self.requests += 1
        for _ in range(self.grow):
            self.items.insert(0, self.items[0] + 1 if self.items else 1)
        size = min(size, self.serve_at_most or size)
        return Page(count=len(self.items), items=self.items[(page - 1) * size : page * size])


def shuffled(rng):
    """A ``fetch_many`` that fetches the pages in a random order."""

    def fetch_many(fetch_one, pages):
        order = list(pages)
        rng.shuffle(order)
        return {page: fetch_one(page) for page in order}

    return fetch_many


def read(source, **kwargs):
    kwargs.setdefault("page_size", 100)
    return read_all(source.fetch, grows_at="top", what="Run History", key=lambda x: x, **kwargs)


def test_a_static_list_is_read_once_page_by_page():
    source = NewestFirst(250)
    assert read(source) == list(range(250, 0, -1))
    assert source.requests == 3


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(0, 700),
    grow=st.integers(0, 49),
    size=st.sampled_from([1, 7, 50, 100]),
    seed=st.integers(0, 10**6),
)
def test_a_growing_list_read_in_any_order_loses_nothing(n, grow, size, seed):
    # A list that grows by a page or more per request cannot be read by page numbers at all.
    grow = grow % size
    source = NewestFirst(n, grow=grow)
    before = set(source.items)
    items = read(source, page_size=size, fetch_many=shuffled(random.Random(seed)))
    assert len(items) == len(set(items))  # each once
    assert before <= set(items)  # every run that existed at the start
    assert items == sorted(items, reverse=True)  # in list order


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), grow=st.integers(0, 10), limit=st.integers(1, 450))
def test_limit_keeps_the_newest(n, grow, limit):
    source = NewestFirst(n, grow=grow)
    items = read(source, limit=limit, page_size=30)
    assert len(items) == min(limit, n + grow)  # of the runs there at the first answer
    assert items == sorted(items, reverse=True)
    assert items[-1] >= n - limit + 1 or len(items) == n  # no older run than the n newest


def test_a_server_with_smaller_pages_than_asked_is_followed():
    source = NewestFirst(480, serve_at_most=50)
    assert read(source) == list(range(480, 0, -1))
    assert source.requests == 480 // 50 + 1


@pytest.mark.parametrize("grow", [0, 3])
def test_appending_lists_read_from_the_top(grow):
    rows = list(range(230))

    def fetch(page, size):
        rows.extend(range(len(rows), len(rows) + grow))
        return Page(count=len(rows), items=rows[(page - 1) * size : page * size])

    items = read_all(fetch, page_size=100, grows_at="bottom", what="rows")
    assert items == rows[: len(items)] and len(items) >= 230


def test_older_stops_at_the_first_page_of_older_items():
    source = NewestFirst(1000)
    items = read(source, page_size=50, older=lambda x: x <= 800)
    assert set(range(801, 1001)) <= set(items)
    assert min(items) > 750  # nothing from below the all-older page
    assert source.requests <= 2 * 4  # pages 1-4 hold the wanted runs; as many read past them


def test_an_empty_page_inside_the_count_is_an_error_at_once():
    calls = []

    def fetch(page, size):
        calls.append(page)
        items = list(range(100)) if page == 1 else []
        return Page(count=40_000, items=items)

    with pytest.raises(ListingIncompleteError, match="page 2 came back empty"):
        read_all(fetch, page_size=100, grows_at="top", what="Run History", key=lambda x: x)
    assert len(calls) <= 1 + 64  # one chunk of the first pass, not 400 pages


def test_a_server_that_ignores_page_numbers_is_an_error():
    calls = []

    def fetch(page, size):
        calls.append(page)
        return Page(count=1000, items=list(range(100)))

    with pytest.raises(ListingIncompleteError, match="100 distinct"):
        read_all(fetch, page_size=100, grows_at="top", what="Run History", key=lambda x: x)
    assert len(calls) == 10 + 10  # the first pass, then one full re-read


def test_an_implausible_count_is_refused_before_anything_is_scheduled():
    calls = []

    def fetch(page, size):
        calls.append(page)
        return Page(count=MAX_COUNT + 1, items=[1])

    with pytest.raises(TransportError, match="claims"):
        read_all(fetch, page_size=100, grows_at="top", what="Run History", key=lambda x: x)
    assert calls == [1]


@pytest.mark.parametrize("count", [-1, "3", None, True])
def test_a_count_that_is_not_a_count_is_refused(count):
    def fetch(page, size):
        return Page(count=count, items=[])

    with pytest.raises(TransportError, match="count"):
        read_all(fetch, page_size=100, grows_at="top", what="Run History")
