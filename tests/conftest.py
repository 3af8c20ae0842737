"""Shared fixtures: one sandbox server per test process; no figure outlives a test; report
charts drawn without pixels for tests of the report's HTML."""

import base64
import json
from collections.abc import Iterator

import matplotlib
import pytest

matplotlib.use("Agg")  # no display on test machines; set before pyplot is imported

import matplotlib.pyplot as plt

import coreclaw_frames as ccf
import coreclaw_frames.report._charts as report_charts
from coreclaw_frames.api import MockTransport
from coreclaw_frames.sandbox import SandboxServer, serve


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """A default sandbox (seed 0, DEFAULT_RUNS runs, no faults) on an ephemeral loopback port.

    Shared by every test of one process (each pytest-xdist worker starts its own): tests that
    need knobs or exact counters start their own `serve()`.
    """
    with serve() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Close every matplotlib figure a test opened."""
    yield
    plt.close("all")


#: What a chart drawn without pixels embeds: a valid one-pixel PNG.
ONE_PIXEL_PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4480000000049454e44ae426082"
    )
).decode("ascii")


@pytest.fixture
def charts_without_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report builds every chart's figure as usual but neither lays it out nor rasterizes
    it: each image is one pixel, at a fifth of the time. For tests of the report's HTML and of
    the figures' content; tests of the layout draw the figures themselves
    (``tests/figure_layout.py``), and the tests of the images use the real encoding."""
    monkeypatch.setattr(report_charts, "encode", lambda figure: ONE_PIXEL_PNG)


@pytest.fixture(params=["v1", "v2"])
def api_version(request) -> str:
    """Each API version in turn."""
    return request.param


@pytest.fixture
def mock_client():
    """``mock_client(handler, **settings)``: a client whose every request ``handler`` answers
    in memory (see MockTransport), closed after the test."""
    clients = []

    def start(handler, **settings):
        settings.setdefault("api_key", "k")
        settings.setdefault("base_url", "http://127.0.0.1:9")
        clients.append(ccf.Client(transport=MockTransport(handler), **settings))
        return clients[-1]

    yield start
    for client in clients:
        client.close()


@pytest.fixture
def canned(mock_client):
    """``canned(data)``: a client whose every answer is a success with ``data``;
    ``canned(body=..., status=...)``: one whose every answer is that raw HTTP answer.
    ``api_version`` chooses the client's API version (both read the same success envelope)."""

    def start(data=None, *, body=None, status=200, api_version="v2"):
        if body is None:
            body = json.dumps({"code": 0, "message": "success", "data": data}).encode()
        return mock_client(
            lambda request: (status, {}, body), api_version=api_version, max_retries=0
        )

    return start
