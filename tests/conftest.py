"""Shared fixtures: one sandbox server for the whole test run; no figure outlives a test."""

import http.server
import json
import threading
from collections.abc import Iterator
from typing import ClassVar

import matplotlib
import pytest

matplotlib.use("Agg")  # no display on test machines; set before pyplot is imported

import matplotlib.pyplot as plt

import coreclaw_frames as ccf
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


class _Canned(http.server.BaseHTTPRequestHandler):
    """Answers every request with the class's ``status`` and ``body``."""

    status: ClassVar[int] = 200
    body: ClassVar[bytes] = b""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture(params=["v1", "v2"])
def api_version(request) -> str:
    """Each API version in turn."""
    return request.param


@pytest.fixture
def canned():
    """``canned(data)``: a client of a server whose every answer is a success with ``data``;
    ``canned(body=..., status=...)``: one whose every answer is that raw HTTP answer.
    ``api_version`` chooses the client's API version (both read the same success envelope)."""
    servers, clients = [], []

    def start(data=None, *, body=None, status=200, api_version="v2"):
        if body is None:
            body = json.dumps({"code": 0, "message": "success", "data": data}).encode()
        handler = type("Handler", (_Canned,), {"body": body, "status": status})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        clients.append(
            ccf.Client(
                api_key="k",
                base_url=f"http://127.0.0.1:{server.server_port}",
                api_version=api_version,
                max_retries=0,
            )
        )
        return clients[-1]

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.shutdown()
        server.server_close()
