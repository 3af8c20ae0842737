"""How runs are grouped and in what order groups are shown, the same in tables and charts.

* **Order comes from the data type, never from appearance.** Statuses follow their lifecycle
  (the categorical order), versions sort as versions (:func:`version_key`), numbers and times
  by value, and everything else (worker titles and slugs, origins) by total cost, most
  expensive first. A missing value is the group :data:`MISSING_LABEL`, always last.
* **A worker is its slug.** Two owners' workers may share a title, and a worker may be renamed:
  grouping by ``scraper_title`` groups by ``scraper_slug`` when the frame has it, and names
  each worker by its title (its newest run's). Workers that share a title are told apart by
  their slug: ``Jobs (acme~jobs)``, ``Jobs (…8XMCR6B9)`` (:func:`worker_labels`).
* **A version belongs to its worker.** Grouping by ``version`` groups by worker and version:
  two workers' ``v1.0.0`` are two groups, named ``"<worker> · v1.0.0"``, workers in cost
  order and each worker's versions in version order.
* **"other" pools only what is beyond ``top``.** :func:`limit` keeps the ``top`` most
  expensive groups in their order and puts one pooled group after them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coreclaw_frames.analysis._frame import (
    VERSION_COLUMN,
    WORKER_COLUMN,
    WORKER_SLUG_COLUMN,
    check_column,
    check_frame,
    split_fetch_failures,
)
from coreclaw_frames.analysis._money import SUM_ARROW_TYPE, usage_array
from coreclaw_frames.analysis._versions import version_key
from coreclaw_frames.schema import STRING_DTYPE

__all__ = [
    "DEFAULT_TOP",
    "MISSING_LABEL",
    "OTHER_LABEL",
    "VERSION_SEPARATOR",
    "Grouping",
    "column_grouping",
    "expand_versions",
    "group_order",
    "grouping",
    "limit",
    "worker_labels",
]

#: How many groups a chart shows before the rest are pooled into one "other" group.
DEFAULT_TOP = 12
#: Name of the pooled group; shown as ``"other (N)"`` with N the pooled groups.
OTHER_LABEL = "other"
#: Label of the group of rows whose grouping value is missing.
MISSING_LABEL = "(missing)"
#: Between a worker and its version in a group's name.
VERSION_SEPARATOR = " · "
#: A worker slug that is a ULID is told apart by this many of its last characters.
SLUG_TAIL_CHARS = 8
# Group keys join their parts with a control character that titles do not contain, so that
# ("a · b", "c") and ("a", "b · c") stay two groups; the pooled group's key starts with one.
_KEY_SEPARATOR = "\x1f"
_OTHER_KEY = "\x1fother"


@dataclass(frozen=True)
class Grouping:
    """How the rows of a frame are grouped: a key per row, the keys in display order, and
    each key's name parts (a worker and a version, or the key itself)."""

    column: str
    labels: pd.Series
    order: list[str]
    parts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def name(self, key: str) -> str:
        """The group's name as tables and legends show it.

        Examples
        --------
        >>> Grouping("version", pd.Series([], dtype=object), [], {"k": ("W", "v1")}).name("k")
        'W · v1'
        """
        return VERSION_SEPARATOR.join(self.parts.get(key, (key,)))

    def names(self) -> list[str]:
        """Every group's name, in display order."""
        return [self.name(key) for key in self.order]

    @staticmethod
    def is_other(key: str) -> bool:
        """Whether ``key`` is the pooled "other" group."""
        return key == _OTHER_KEY


def expand_versions(columns: Sequence[str], available: Sequence[str]) -> list[str]:
    """``columns`` with the worker put before ``version`` when it is not grouped by already.

    Examples
    --------
    >>> expand_versions(["version"], ["scraper_title", "version"])
    ['scraper_title', 'version']
    >>> expand_versions(["origin", "version"], ["version", "origin"])
    ['origin', 'version']
    """
    expanded = list(columns)
    if VERSION_COLUMN in expanded and WORKER_COLUMN not in expanded and WORKER_COLUMN in available:
        expanded.insert(expanded.index(VERSION_COLUMN), WORKER_COLUMN)
    return expanded


def _text(values: pd.Series) -> pd.Series:
    """``values`` as Arrow strings, missing values kept missing."""
    try:
        return values.astype(STRING_DTYPE)
    except (TypeError, ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        objects = [None if _is_missing(v) else str(v) for v in values.astype(object)]
        return pd.Series(objects, index=values.index, dtype=STRING_DTYPE)


def _labels(values: pd.Series) -> pd.Series:
    """Group labels as Arrow strings, with missing values labelled :data:`MISSING_LABEL`."""
    return _text(values).fillna(MISSING_LABEL)


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _group_totals(labels: pd.Series, usage: pa.Array) -> pa.Table:
    """Per label: ``key``, exact ``cost`` (null if none known) and ``runs``, as Arrow."""
    table = pa.table({"key": pa.array(labels), "v": usage})
    grouped = table.group_by("key", use_threads=False).aggregate([("v", "sum"), ("key", "count")])
    return grouped.rename_columns({"v_sum": "cost", "key_count": "runs"})


def _cost_rank(labels: pd.Series, usage: pa.Array, exclude: str | None) -> list[str]:
    """Labels by total cost (descending; unknown cost last), then run count, then name."""
    totals = _group_totals(labels, usage)
    if exclude is not None:
        totals = totals.filter(pc.not_equal(totals["key"], exclude))
    # Rank on an explicit "unknown" flag rather than on null placement, whose API changed.
    ranking = pa.table(
        {
            "unknown": pc.is_null(totals["cost"]),
            "cost": pc.fill_null(totals["cost"], pa.scalar(0, totals["cost"].type)),
            "runs": totals["runs"],
            "key": totals["key"],
        }
    )
    order = pc.sort_indices(
        ranking,
        sort_keys=[
            ("unknown", "ascending"),
            ("cost", "descending"),
            ("runs", "descending"),
            ("key", "ascending"),
        ],
    )
    return [str(label) for label in totals["key"].take(order).to_pylist()]


def _slug_tag(slug: str) -> str:
    """A short, stable tag of a worker slug: an ``owner~name`` path whole, a ULID's tail.

    Examples
    --------
    >>> _slug_tag("acme~jobs"), _slug_tag("01KSFDS8XWTJME33C08XMCR6B9")
    ('acme~jobs', '…8XMCR6B9')
    """
    return slug if "~" in slug or len(slug) <= SLUG_TAIL_CHARS else "…" + slug[-SLUG_TAIL_CHARS:]


def worker_labels(frame: pd.DataFrame) -> pd.Series:
    """Each row's worker (its ``scraper_slug``), named by its title.

    A worker's title is that of its newest run with one (a renamed worker keeps one name);
    workers sharing a title get their slug's tag after it, a worker without a title its slug,
    and a row without a slug :data:`MISSING_LABEL`.

    Examples
    --------
    >>> frame = pd.DataFrame({"scraper_title": ["Jobs", "Jobs", "Shop"],
    ...                       "scraper_slug": ["acme~jobs", "01KSFDS8XWTJME33C08XMCR6B9", "S1"]})
    >>> worker_labels(frame).tolist()
    ['Jobs (acme~jobs)', 'Jobs (…8XMCR6B9)', 'Shop']
    """
    slugs = pa.array(_labels(frame[WORKER_SLUG_COLUMN]))
    runs = pa.table({"slug": slugs, "title": pa.array(_text(frame[WORKER_COLUMN]))})
    started = frame["started_at"] if "started_at" in frame.columns else None
    if started is not None and pd.api.types.is_datetime64_any_dtype(started.dtype):
        # Oldest first (not started yet: first of all), so that the last title is the newest.
        times = pa.array(started).cast(pa.int64())
        runs = runs.take(pc.sort_indices(pc.fill_null(times, -(2**63))))
    titled = runs.filter(
        pc.and_(pc.is_valid(runs["title"]), pc.not_equal(runs["slug"], MISSING_LABEL))
    )
    newest = titled.group_by("slug", use_threads=False).aggregate([("title", "last")])
    title_of = dict(zip(newest["slug"].to_pylist(), newest["title_last"].to_pylist(), strict=True))
    workers = [slug for slug in pc.unique(slugs).to_pylist() if slug != MISSING_LABEL]
    base = {slug: str(title_of.get(slug, slug)) for slug in workers}
    shared = Counter(base.values())
    names = {
        slug: title if shared[title] == 1 else f"{title} ({_slug_tag(slug)})"
        for slug, title in base.items()
    }
    clashes = Counter(names.values())
    names = {
        slug: name if clashes[name] == 1 else f"{base[slug]} ({slug})"
        for slug, name in names.items()
    }
    names[MISSING_LABEL] = MISSING_LABEL
    keys, shown = pa.array(list(names), pa.string()), pa.array(list(names.values()), pa.string())
    labels = shown.take(pc.index_in(slugs, value_set=keys))
    return pd.Series(pd.arrays.ArrowExtensionArray(labels), index=frame.index)


def _worker_grouping(frame: pd.DataFrame, usage: pa.Array) -> Grouping:
    """Group by worker slug, named as :func:`worker_labels` says, in cost order."""
    labels = worker_labels(frame)
    has_missing = bool((labels == MISSING_LABEL).any())
    order = _cost_rank(labels, usage, MISSING_LABEL if has_missing else None)
    return Grouping(WORKER_COLUMN, labels, [*order, MISSING_LABEL] if has_missing else order)


def column_grouping(frame: pd.DataFrame, column: str, usage: pa.Array) -> Grouping:
    """Label every row by ``column`` alone and put the labels in their data-type order; by
    worker (``scraper_title``) when the frame has slugs, see :func:`worker_labels`."""
    if column == WORKER_COLUMN and WORKER_SLUG_COLUMN in frame.columns:
        return _worker_grouping(frame, usage)
    values = frame[column]
    labels = _labels(values)
    missing = values.isna().to_numpy(dtype=bool, na_value=True)
    has_missing = bool(missing.any())
    dtype = values.dtype
    order: list[str]
    if isinstance(dtype, pd.CategoricalDtype):
        present = set(labels[~missing].unique().tolist())
        order = [str(c) for c in dtype.categories if str(c) in present]
    elif column == VERSION_COLUMN:
        order = sorted(set(labels[~missing].unique().tolist()), key=version_key)
    elif (
        pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
    ):
        pairs = pd.DataFrame({"value": values[~missing], "label": labels[~missing]})
        order = pairs.sort_values("value", kind="stable").drop_duplicates("label")["label"].tolist()
    else:
        order = _cost_rank(labels, usage, MISSING_LABEL if has_missing else None)
    if has_missing:
        order.append(MISSING_LABEL)
    return Grouping(column, labels, order)


def _version_grouping(frame: pd.DataFrame, usage: pa.Array) -> Grouping:
    """Group by worker and version: workers in cost order, each one's versions in order."""
    workers = column_grouping(frame, WORKER_COLUMN, usage)
    versions = _labels(frame[VERSION_COLUMN])
    missing_version = frame[VERSION_COLUMN].isna().to_numpy(dtype=bool, na_value=True)
    keys = workers.labels + _KEY_SEPARATOR + versions
    pairs = pd.DataFrame(
        {"key": keys, "worker": workers.labels, "version": versions, "missing": missing_version}
    ).drop_duplicates("key")
    rank = {worker: i for i, worker in enumerate(workers.order)}
    ordered = sorted(
        pairs.itertuples(index=False),
        key=lambda p: (rank[p.worker], p.missing, version_key(p.version)),
    )
    parts = {p.key: (p.worker, p.version) for p in ordered}
    return Grouping(VERSION_COLUMN, keys, [p.key for p in ordered], parts)


def grouping(frame: pd.DataFrame, column: str, usage: pa.Array) -> Grouping:
    """The groups of ``frame`` by ``column`` (by worker and version for ``"version"``)."""
    if column == VERSION_COLUMN and WORKER_COLUMN in frame.columns:
        return _version_grouping(frame, usage)
    return column_grouping(frame, column, usage)


def limit(groups: Grouping, usage: pa.Array, top: int) -> Grouping:
    """Keep the ``top`` most expensive groups in their order and pool the rest into one
    ``"other (N)"`` group, placed last; unchanged when that would pool a single group."""
    if len(groups.order) <= top + 1:
        return groups
    totals = _group_totals(groups.labels, usage)
    position = {label: i for i, label in enumerate(groups.order)}
    ranking = pa.table(
        {
            "cost": pc.fill_null(totals["cost"], pa.scalar(0, totals["cost"].type)),
            "position": [position[key] for key in totals["key"].to_pylist()],
        }
    )
    ranked = pc.sort_indices(ranking, sort_keys=[("cost", "descending"), ("position", "ascending")])
    kept = set(totals["key"].take(ranked[:top]).to_pylist())
    labels = groups.labels.where(groups.labels.isin(kept), _OTHER_KEY)
    order = [label for label in groups.order if label in kept]
    parts = {key: groups.parts[key] for key in order if key in groups.parts}
    parts[_OTHER_KEY] = (f"{OTHER_LABEL} ({len(groups.order) - top})",)
    return Grouping(groups.column, labels, [*order, _OTHER_KEY], parts)


def group_order(data: pd.DataFrame, by: str = WORKER_COLUMN) -> list[str]:
    """Names of the groups of ``data`` by column ``by``, in display order.

    Statuses in lifecycle order, versions as versions within their worker
    (``"<worker> · <version>"``), numbers and times by value, anything else by total cost
    (descending), then run count, then name. Rows whose fetch failed are left out.

    Examples
    --------
    >>> from coreclaw_frames._records import records_to_frame
    >>> run = {"status": "succeeded", "scraper_slug": "W", "scraper_title": "Shop",
    ...        "started_at": 1773305309, "finished_at": 1773305369, "duration": 60}
    >>> df = records_to_frame([{**run, "version": "v1.0.10"}, {**run, "version": "v1.0.9"}])
    >>> group_order(df, "version")
    ['Shop · v1.0.9', 'Shop · v1.0.10']
    """
    caller = "group_order"
    check_frame(data, (), caller)
    check_column(data, by, "by", caller)
    runs, _ = split_fetch_failures(data)
    if "usage" in runs.columns:
        usage = usage_array(runs["usage"], caller)
    else:
        usage = pa.nulls(len(runs), SUM_ARROW_TYPE)
    return grouping(runs, by, usage).names()
