"""A worker whose result rows drift in shape from one version to the next.

Real scrapers change their output as they evolve, and a client that infers column types run by
run must cope. This worker's rows change with the version of the run (oldest first):

- ``id``: an int in v1.0.0 and v1.1.0, a string (``"P-123"``) from v2.0.0 on;
- ``price``: an int (whole units) in v1.0.0, a float from v1.1.0 on;
- ``available``: a bool up to v2.0.0, a float between 0 and 1 in v2.1.0;
- ``seller``: an object ``{"name", "rating"}`` up to v1.1.0, a string (the name) from v2.0.0
  on, beside a flat ``seller_rating`` that only these later versions have;
- ``discount`` (a float or null): only from v1.1.0 on.

Only accounts built with ``drift_runs`` hold this worker (see `build_account`): the default
account, its workers and its rows stay exactly as they are.
"""

from __future__ import annotations

import random
from functools import partial

from coreclaw_frames.sandbox._records import (
    HISTORY_SECONDS,
    MS_PER_SECOND,
    STATUS_SUCCEEDED,
    BigResults,
    RunFactory,
    Worker,
    ulid,
)
from coreclaw_frames.sandbox._workers import WORKER_SPECS, Row, RowMaker, WorkerSpec

__all__ = ["DRIFT_SPEC", "DRIFT_WORKER_PATH", "drift_records"]

_LONGEST_RUN_SECONDS = 5 * 3600
"""Longer than any run lasts (a long run takes up to four hours, plus its creation lead)."""

DRIFT_WORKER_PATH = "drift~catalog-feed"
"""The ``owner~name`` path (v2's worker id) of the drifting worker."""

_STRING_ID_FROM = 2
_FLOAT_PRICE_FROM = 1
_FLOAT_AVAILABLE_FROM = 3
_FLAT_SELLER_FROM = 2
_DISCOUNT_FROM = 1

_ITEMS = ("Kettle", "Backpack", "Phone Case", "Yoga Mat", "Blender", "Headphones")
_SHOPS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip")


def _drift_row(version: int, rng: random.Random, reference: int, index: int) -> Row:
    """One row of a run of the version with index `version`; the values are drawn the same way
    in every version, only their shape differs."""
    item_id = rng.randint(1, 10**7)
    title = f"{_SHOPS[rng.randrange(len(_SHOPS))]} {_ITEMS[rng.randrange(len(_ITEMS))]}"
    cents = rng.randint(100, 200_000)
    available = rng.random() < 0.75
    availability = rng.randint(0, 100) / 100
    seller = f"{_SHOPS[rng.randrange(len(_SHOPS))]} Marketplace"
    rating = rng.randint(10, 50) / 10
    discount = rng.randint(0, 50) / 100 if rng.random() < 0.6 else None
    row: Row = {
        "id": f"P-{item_id}" if version >= _STRING_ID_FROM else item_id,
        "title": title,
        "price": cents / 100 if version >= _FLOAT_PRICE_FROM else cents // 100,
        "available": availability if version >= _FLOAT_AVAILABLE_FROM else available,
    }
    if version >= _FLAT_SELLER_FROM:
        row["seller"] = seller
        row["seller_rating"] = rating
    else:
        row["seller"] = {"name": seller, "rating": rating}
    if version >= _DISCOUNT_FROM:
        row["discount"] = discount
    return row


def _rows_of_version(version: int) -> RowMaker:
    return partial(_drift_row, version)


DRIFT_SPEC = WorkerSpec(
    "Catalog Feed (schema drift)",
    ("v1.0.0", "v1.1.0", "v2.0.0", "v2.1.0"),
    tuple(
        {"label": label, "key": key, "format": fmt}
        for label, key, fmt in (
            ("ID", "id", "text"),
            ("Title", "title", "text"),
            ("Price", "price", "number"),
            ("Available", "available", "boolean"),
            ("Seller", "seller", "object"),
            ("Discount", "discount", "number"),
        )
    ),
    _rows_of_version(0),
    data_id=True,
    weight=0,
    path=DRIFT_WORKER_PATH,
    price_per_run=0.003,
    price_per_result=0.0007,
    rows_of_version=_rows_of_version,
)
"""The drifting worker; ``weight`` 0 because no random draw ever picks it."""


def drift_records(
    seed: int, now: int, factory: RunFactory, count: int, max_results: int | None
) -> list[tuple[Row, int]]:
    """The drifting worker, known to `factory`, and `count` succeeded runs of it, one in each
    of `count` equal slices of the history; drawn from an RNG of their own."""
    rng = random.Random(f"{seed}/drift")
    created_at = now - HISTORY_SECONDS - 30 * 86400 + len(WORKER_SPECS) * 86400
    worker = Worker(
        slug=ulid(created_at * MS_PER_SECOND, rng),
        title=DRIFT_SPEC.title,
        versions=DRIFT_SPEC.versions,
        path=DRIFT_SPEC.path,
    )
    factory.add_worker(worker, DRIFT_SPEC)
    big = BigResults(f"{seed}/drift", max_results) if max_results is not None else None
    drift = RunFactory(rng, factory.workers, now, big=big)
    drift.used_slugs = factory.used_slugs
    drift.add_worker(worker, DRIFT_SPEC)
    # Room for the longest run to finish before now.
    span = HISTORY_SECONDS - _LONGEST_RUN_SECONDS
    first = now - HISTORY_SECONDS
    records = []
    for position in range(count):
        created = first + (position * span + rng.randrange(span)) // count
        records.append((drift.at(created, STATUS_SUCCEEDED, worker), created))
    return records
