"""Deadlines for whole requests, and cancelling the requests in flight.

A socket timeout bounds each read, not the request: a server that drips its answer a byte at a
time holds a request for as long as it likes. So every attempt runs under an :class:`Attempt`
with a deadline; the connection registers its socket with the :class:`Watchdog` as soon as it
waits for an answer, and the watchdog shuts the socket down when the deadline passes, which
wakes the blocked read at once. :meth:`Watchdog.cancel` shuts down every watched socket (Ctrl-C).

The hook is urllib3's connection class (:class:`WatchedHTTPConnection`), installed by
:func:`watched_adapter` for requests; the attempt in progress is found through a thread-local,
since each attempt runs on one thread from start to end.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from contextlib import suppress
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["Attempt", "Watchdog", "watched_adapter"]

_current = threading.local()


class Attempt:
    """One request attempt: its deadline, and whether the watchdog cut it short."""

    def __init__(self, watchdog: Watchdog, deadline: float) -> None:
        self.watchdog = watchdog
        self.deadline = deadline
        self.expired = False
        self.cancelled = False
        self._token: int | None = None

    def __enter__(self) -> Attempt:
        _current.attempt = self
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current.attempt = None
        if self._token is not None:
            self.watchdog.unwatch(self._token)

    def watch(self, sock: socket.socket | None) -> None:
        """Shut ``sock`` down at the deadline (called by the connection, once per attempt)."""
        if sock is not None and self._token is None:
            self._token = self.watchdog.watch(sock, self)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


class Watchdog:
    """Shuts down the sockets of attempts past their deadline; one thread per client."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._watched: dict[int, tuple[socket.socket, Attempt]] = {}
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, sock: socket.socket, attempt: Attempt) -> int:
        with self._lock:
            token = next(self._tokens)
            self._watched[token] = (sock, attempt)
            heapq.heappush(self._heap, (attempt.deadline, token))
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="coreclaw-watchdog", daemon=True
                )
                self._thread.start()
            self._lock.notify()
            return token

    def unwatch(self, token: int) -> None:
        with self._lock:
            self._watched.pop(token, None)

    def cancel(self) -> None:
        """Cut every attempt in flight now."""
        with self._lock:
            watched = list(self._watched.values())
            self._watched.clear()
        for sock, attempt in watched:
            attempt.cancelled = True
            _shut(sock)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()

    def _run(self) -> None:
        with self._lock:
            while not self._closed:
                while self._heap and self._heap[0][1] not in self._watched:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._lock.wait()
                    continue
                deadline, token = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                heapq.heappop(self._heap)
                sock, attempt = self._watched.pop(token)
                attempt.expired = True
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _watch_current(sock: socket.socket | None) -> None:
    attempt: Attempt | None = getattr(_current, "attempt", None)
    if attempt is not None:
        attempt.watch(sock)


class WatchedHTTPConnection(HTTPConnection):
    """urllib3's connection, putting its socket under the current attempt's deadline."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch_current(self.sock)
        return super().getresponse(*args, **kwargs)


class WatchedHTTPSConnection(HTTPSConnection):
    """The TLS connection, likewise."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch_current(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter whose pools (direct or through a proxy) use watched connections."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(*args, **kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


def watched_adapter(pool_size: int) -> HTTPAdapter:
    """An adapter for ``pool_size`` concurrent connections, none retried by urllib3."""
    return _WatchedAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
