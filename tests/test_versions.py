"""Version order: ``packaging.version`` for real versions, a place for every other label."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coreclaw_frames.analysis import version_key


def test_version_key_orders_versions() -> None:
    shuffled: list[str | None] = [
        "latest",
        "v1.0.10",
        "1.2",
        "v1.0.9",
        "v1.0.10-rc.1",
        "v2.0.0",
        "v0.10.0",
    ]
    shuffled += ["v1.0.10.dev3", "v1.0.10a1", "v1.0.10-beta", "v1.0.10.post1", None, "main"]
    assert sorted(shuffled, key=version_key) == [
        "v0.10.0",
        "v1.0.9",
        "v1.0.10.dev3",
        "v1.0.10a1",
        "v1.0.10-beta",
        "v1.0.10-rc.1",
        "v1.0.10",
        "v1.0.10.post1",
        "1.2",
        "v2.0.0",
        "latest",
        "main",
        None,
    ]


def test_equal_versions_are_ordered_by_their_text() -> None:
    assert version_key("1.2") < version_key("1.2.0")
    assert version_key("v1.2")[:3] == version_key("1.2.0")[:3]  # the same version
    assert sorted(["V2.0", "v2.0", "2.0"], key=version_key) == ["2.0", "V2.0", "v2.0"]


def test_labels_packaging_cannot_parse_still_have_a_place() -> None:
    labels = ["build-10", "v1.0.10", "1.0.10-hotfix", "build-9", "1.0.9", "Latest"]
    assert sorted(labels, key=version_key) == [
        "1.0.9",
        "1.0.10-hotfix",  # a number with an unknown suffix: just before that release
        "v1.0.10",
        "build-9",  # names after every number, in natural order
        "build-10",
        "Latest",
    ]


@given(st.lists(st.one_of(st.text(), st.none(), st.integers(), st.floats())))
def test_version_key_never_crashes(values: list[object]) -> None:
    ordered = sorted(values, key=version_key)
    assert sorted(ordered, key=version_key) == ordered


def test_version_key_handles_huge_numbers() -> None:
    huge = "9" * 5000  # beyond int()'s digit limit
    assert sorted([huge, "10"], key=version_key) == ["10", huge]
    assert sorted([f"v{huge}.1", "v1.0"], key=version_key) == ["v1.0", f"v{huge}.1"]
