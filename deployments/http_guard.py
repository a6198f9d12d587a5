"""What the API's HTTP server lets a client hold before a token is checked: the request head's size,
and how long a connection may take to send it.

uvicorn with httptools (its default where installed) reads a request head of any size: four
unauthenticated `GET /health` with one 64 MB header each were answered 200 and took the API from 128
to 442 MB, and 100,000 headers were answered 200. The API runs on h11 instead, with the head capped
at `MAX_HEAD_BYTES` (a larger one is answered 431 and the connection closed once that much has
arrived, whatever the header count), and `GuardedH11Protocol`
closes a connection that has not sent a whole request head within `head_timeout_s` of connecting or
of its last response (slow clients cannot hold descriptors). Bodies are judged by
`deployments.body_guard` once the head is in.

`shutting_down()` says whether the server has been asked to stop: requests waiting on a run then
answer at once with the run's state (`deployments.routes.datasets.wait_for`), so SIGTERM ends the
process in seconds.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEAD_BYTES = 64 * 1024
"""The request line and headers together (h11's limit is 16 KiB; a browser's cookies can pass it)."""

_server = None


def serving(server) -> None:
    """Registers the running uvicorn server (for `shutting_down`)."""
    global _server
    _server = server


def shutting_down() -> bool:
    return bool(_server is not None and _server.should_exit)


def guarded_protocol(head_timeout_s: float):
    """The h11 protocol class with a deadline of `head_timeout_s` for each request head."""

    class GuardedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0
        _tail = b""
        _refused = False

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._waiting():  # bytes of a head: its deadline runs, its size is counted up to its end
                self._arm()
                seen = self._tail + data
                end = seen.find(b"\r\n\r\n")
                self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
                self._tail = seen[-3:]
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._refuse()
                    return
            super().data_received(data)
            if not self._waiting():  # a whole head arrived: the request runs
                self._disarm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _waiting(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(head_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            self._head_bytes, self._tail = 0, b""

        def _too_slow(self) -> None:
            self._head_timer = None
            if self._waiting() and not self.transport.is_closing():
                self.transport.close()

        def _refuse(self) -> None:
            self._refused = True
            self._disarm()
            body = b'{"detail":"request head over 65536 bytes (line and headers)"}'
            self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                                 b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            self.transport.close()

    return GuardedH11Protocol
