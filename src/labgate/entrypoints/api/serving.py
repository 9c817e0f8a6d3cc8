"""How `labgate serve` runs uvicorn: idle and half-open connections are cut off, so a slow client
(slowloris) cannot hold the server's connections open."""

from __future__ import annotations

import asyncio
import functools
import gc
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from labgate.config import Settings


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with a deadline for each request's headers: from the moment
    the connection opens, or a kept-alive one's next request starts, to the end of its headers.
    uvicorn itself waits for headers forever (its keep-alive timer stops at the first byte)."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Stop the clock once the headers are in; start it when a new request begins."""
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # h11 leaves IDLE once a request's headers are in
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        """No deadline outlives its connection."""
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        """A kept-alive connection is uvicorn's keep-alive timer's until its next byte."""
        self._disarm()
        super().on_response_complete()

    def _arm(self) -> None:
        if self._header_deadline is None and not self.transport.is_closing():
            self._header_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expire(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info("headers not received within %gs; connection closed",
                             self.header_timeout)  # fmt: skip
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options every `labgate serve` process runs with (picklable, so worker
    processes get them too)."""
    return {
        "http": functools.partial(
            DeadlineH11Protocol, header_timeout=settings.header_timeout_seconds
        ),
        "timeout_keep_alive": settings.keep_alive_seconds,
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise: any local client
        # could then choose the address its refusals count against (throttle.py).
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or None,
    }


def settle_heap() -> None:
    """Once the app is built: what start-up loaded (modules, mappers, schemas, routes) lives as
    long as the process, so it leaves the collector's generations (gc.freeze). A full
    collection then walks what requests made, not the whole heap each time: those pauses were
    a tenth of a busy server's time, and its slowest answers."""
    gc.collect()
    gc.freeze()
