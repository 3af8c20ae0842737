"""The HTTP/1.1 wire of the sandbox: a threading server on loopback with keep-alive.

It reads each request (Content-Length or chunked bodies, capped at `MAX_BODY_BYTES`), parses
the target into a `Request`, asks its `respond` callable for the `Answer` and writes it (large
bodies piece by piece), or closes the connection without a word when the answer says `drop`.
Any method is read the same way; routing is the API versions' business. Stopping closes idle
keep-alive connections at once.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from coreclaw_frames.sandbox._protocol import Answer, Request

__all__ = ["MAX_BODY_BYTES", "HTTPServer"]

REQUEST_QUEUE_SIZE = 1024
"""listen() backlog: a burst of hundreds of new connections must not be refused."""

MAX_BODY_BYTES = 1 << 20
"""Request bodies above this are not read (v1 answers 4000) and the connection is closed."""


class _BadRequestBody(Exception):
    """The request body cannot be read reliably; the connection must be closed after answering."""


class HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that hands every request to `respond` and can close its open
    connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = REQUEST_QUEUE_SIZE

    def __init__(
        self,
        address: tuple[str, int],
        respond: Callable[[Request], Answer],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.respond = respond
        self.clock = clock
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open connection so idle keep-alive handlers exit at once."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up (after a timeout, say) is normal here; anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Reads one HTTP/1.1 request, asks the sandbox for the answer, writes it (keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "CoreClawSandbox/1.0"
    disable_nagle_algorithm = True
    server: HTTPServer

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header: the server's clock, which may differ from this machine's."""
        return super().date_time_string(self.server.clock() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise _BadRequestBody from None
        if not 0 <= length <= MAX_BODY_BYTES:
            raise _BadRequestBody
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(MAX_BODY_BYTES)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequestBody from None
            total += size
            if size < 0 or total > MAX_BODY_BYTES:
                raise _BadRequestBody
            if size == 0:
                while self.rfile.readline(MAX_BODY_BYTES) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(MAX_BODY_BYTES)  # the CRLF after each chunk

    def _serve(self) -> None:
        try:
            body: bytes | None = self._read_body()
        except _BadRequestBody:
            body = None
            self.close_connection = True
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            target=self.path,
            path=split.path,
            query=tuple(parse_qsl(split.query, keep_blank_values=True)),
            headers=self.headers,
            body=body,
        )
        answer = self.server.respond(request)
        if answer.drop:
            self.close_connection = True
            return
        try:
            self._write(answer)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _write(self, answer: Answer) -> None:
        chunks = answer.chunks
        length = answer.content_length
        if length is None and chunks:
            chunks = list(chunks)
            length = len(answer.body) + sum(len(chunk) for chunk in chunks)
        elif length is None:
            length = len(answer.body)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(length))
        for name, value in answer.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        self.wfile.write(answer.body)
        written = len(answer.body)
        for chunk in chunks:
            self.wfile.write(chunk)
            written += len(chunk)
        if written != length:
            # A body shorter than its Content-Length: the client must see the connection end.
            self.close_connection = True

    do_POST = _serve
    do_GET = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve
    do_HEAD = _serve
    do_OPTIONS = _serve
