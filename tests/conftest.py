"""Shared fixtures: one sandbox server for the whole test run."""

from collections.abc import Iterator

import pytest

from coreclaw_frames.sandbox import SandboxServer, serve


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """A default sandbox (seed 0, DEFAULT_RUNS runs, no faults) on an ephemeral loopback port.

    Shared by every test: tests that need knobs or exact counters start their own `serve()`.
    """
    with serve() as srv:
        yield srv
