"""Shared fixtures: one sandbox server for the whole test run; no figure outlives a test."""

from collections.abc import Iterator

import matplotlib
import pytest

matplotlib.use("Agg")  # no display on test machines; set before pyplot is imported

import matplotlib.pyplot as plt

from coreclaw_frames.sandbox import SandboxServer, serve


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """A default sandbox (seed 0, DEFAULT_RUNS runs, no faults) on an ephemeral loopback port.

    Shared by every test: tests that need knobs or exact counters start their own `serve()`.
    """
    with serve() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Close every matplotlib figure a test opened."""
    yield
    plt.close("all")
