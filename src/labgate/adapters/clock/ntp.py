"""An NTP server asked for the offset of this host's clock (ntplib: SNTP over UDP, RFC 4330)."""

from __future__ import annotations

import socket

import ntplib

NTP_PORT = 123


class NtpUnanswered(Exception):
    """The server could not be asked, or did not answer in time."""


def server_address(server: str) -> tuple[str, int]:
    """`host`, `host:port` or `[v6]:port` as (host, port); the NTP port when none is given."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else NTP_PORT
    host, colon, port = server.rpartition(":")
    if colon and port.isdigit() and ":" not in host:
        return host, int(port)
    return server, NTP_PORT


def ntp_reading(server: str, timeout: float = 2.0) -> tuple[float, float]:
    """(offset, delay) in seconds: the offset is how far the server's time is ahead of ours."""
    host, port = server_address(server)
    try:
        answer = ntplib.NTPClient().request(host, version=4, port=port, timeout=timeout)
    except ntplib.NTPException as error:
        raise NtpUnanswered(str(error)) from error
    except (OSError, socket.gaierror) as error:
        raise NtpUnanswered(f"{type(error).__name__}: {error}") from error
    return float(answer.offset), float(answer.delay)
