"""Refusals earned without signing in: counted per client and minute, audited as summaries, and
refused (Throttled) beyond the configured rate, so a flood neither buries the trail nor guesses
on."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from labgate.compliance.clock import as_utc, iso_utc
from labgate.domain.errors import LabgateError

WINDOW = timedelta(minutes=1)
UNAUTHENTICATED = "unauthenticated"


class Throttled(LabgateError):
    """One client earned more refusals without signing in than the configured rate."""

    default_reason = "rate.limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def client_key(address: str | None) -> str:
    """Who a refusal is counted against: the IP address, an IPv6 address by its /64 (one host
    holds a whole /64, and would otherwise count as billions of clients)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class RefusalWindow:
    """One client's refusals in its current minute, and how many were audited one by one."""

    client: str
    started_at: datetime
    refused: int = 0
    audited: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    pending: bool = False  # refusals not audited one by one, waiting for the summary

    def ended(self, now: datetime) -> bool:
        """Whether the minute is over."""
        return as_utc(now) >= as_utc(self.started_at) + WINDOW

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the minute is over (at least one)."""
        left = (as_utc(self.started_at) + WINDOW - as_utc(now)).total_seconds()
        return max(1, math.ceil(left))

    def over(self, limit: int) -> bool:
        """Whether the client has used up its refusals for this minute."""
        return self.refused >= limit

    def count(self, reason: str, audited: bool) -> None:
        """One more refusal, audited on its own or left for the summary."""
        self.refused += 1
        self.reasons = {**self.reasons, reason: self.reasons.get(reason, 0) + 1}
        if audited:
            self.audited += 1
        else:
            self.pending = True

    def restart(self, now: datetime) -> None:
        """A new minute, nothing counted yet."""
        self.started_at, self.refused, self.audited = now, 0, 0
        self.reasons, self.pending = {}, False

    def summary(self) -> dict[str, object]:
        """The audit entry's content for the minute."""
        return {
            "client": self.client,
            "from": iso_utc(self.started_at),
            "refused": self.refused,
            "audited_singly": self.audited,
            "by_reason": dict(sorted(self.reasons.items())),
        }
