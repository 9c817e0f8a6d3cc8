"""A local NTP server for the trusted-time tests: answers SNTP requests (RFC 4330, mode 4) over
real UDP on a loopback port, with its time set `offset` seconds ahead of this host's clock, so
a test can make the hub's clock look right or drifted."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

NTP_EPOCH = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_PACKET = struct.Struct("!B B b b 11I")


def _ntp(seconds: float) -> tuple[int, int]:
    whole = int(seconds + NTP_EPOCH)
    return whole, int((seconds + NTP_EPOCH - whole) * 2**32) & 0xFFFFFFFF


class NtpServer:
    """Serves until closed; `offset` may be changed while it runs."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self.answered = 0
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                query, client = self.socket.recvfrom(512)
            except TimeoutError:
                continue
            received = time.time() + self.offset
            fields = _PACKET.unpack(query[:48])
            client_sent = fields[-2:]  # the request's transmit time: our answer's originate
            ref = _ntp(received)
            sent = _ntp(time.time() + self.offset)
            answer = _PACKET.pack(
                (0 << 6) | (4 << 3) | 4,  # no leap warning, version 4, server
                2, fields[2], -20,  # stratum 2, the client's poll, precision ~1 µs
                0, 0, 0x7F000001,  # root delay, root dispersion, reference id
                *ref, *client_sent, *_ntp(received), *sent,
            )  # fmt: skip
            self.socket.sendto(answer, client)
            self.answered += 1

    def close(self) -> None:
        """Stop answering."""
        self._stop.set()
        self._thread.join(timeout=2)
        self.socket.close()


@contextmanager
def ntp_server(offset: float = 0.0) -> Iterator[NtpServer]:
    """A local NTP server `offset` seconds ahead of this host, for the length of the block."""
    server = NtpServer(offset)
    try:
        yield server
    finally:
        server.close()


def silent_address() -> str:
    """A loopback UDP port nobody answers on (bound, then released)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"127.0.0.1:{port}"
