"""Sending in order: one message at a time through one channel, as submitted, except those a
fault delays (the ones behind them go ahead, so they arrive out of order); each send journalled."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from dataclasses import dataclass
from typing import Protocol

from labgate.adapters.connectors.partner.journal import Journal
from labgate.adapters.connectors.partner.outgoing import Outgoing

log = logging.getLogger("labgate.partner")


@dataclass(frozen=True)
class Outcome:
    """What the channel said: applied | held | duplicate (REST), published (brokers, packs),
    refused (with labgate's reason and quarantine id) or failed (never delivered)."""

    status: str
    reason: str | None = None
    quarantine_id: str | None = None
    sequence: str | None = None  # a refusal's number (REST's X-Sequence): used | free


class Channel(Protocol):
    """One way of handing messages to labgate."""

    name: str

    async def send(self, item: Outgoing) -> Outcome: ...
    async def close(self) -> None: ...


class Dispatcher:
    """Sends items through one channel one at a time, in the order submitted; an item with a
    delay waits its time while the ones behind it go ahead."""

    def __init__(self, channel: Channel, journal: Journal) -> None:
        self.channel, self.journal = channel, journal
        self._queue: list[tuple[float, int, Outgoing]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self.busy = False
        self.sent: list[tuple[Outgoing, Outcome]] = []

    def submit(self, items: list[Outgoing]) -> None:
        """Queue items to leave now (or after their delay)."""
        start = asyncio.get_running_loop().time()
        for item in items:
            heapq.heappush(self._queue, (start + item.delay, next(self._order), item))
        self._wake.set()

    @property
    def pending(self) -> int:
        """Items not yet sent."""
        return len(self._queue) + (1 if self.busy else 0)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            self._wake.clear()
            if not self._queue or self._queue[0][0] > loop.time():
                timeout = self._queue[0][0] - loop.time() if self._queue else 0.5
                waiter = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait([waiter], timeout=max(timeout, 0))
                waiter.cancel()
                continue
            _, _, item = heapq.heappop(self._queue)
            self.busy = True
            try:
                await self._send(item)
            finally:
                self.busy = False

    async def _send(self, item: Outgoing) -> None:
        try:
            outcome = await self.channel.send(item)
        except Exception as error:  # a broker or server away: said, kept, not fatal
            log.exception("sending %s over %s failed", item.message_id, self.channel.name)
            outcome = Outcome("failed", f"{type(error).__name__}: {error}")
        self.sent.append((item, outcome))
        self.journal.write(
            "sent",
            channel=self.channel.name,
            message_id=item.message_id,
            schema=item.schema,
            stream=item.document["stream"],
            sequence=item.sequence,
            faults=list(item.faults),
            damaged=item.damaged,
            status=outcome.status,
            reason=outcome.reason,
            quarantine_id=outcome.quarantine_id,
        )


class StoreAndForward:
    """A sender's store-and-forward buffer (an edge gateway, a LIMS's outbound queue): while
    its link is down every message waits, in order; when the link is back they go on in the
    order they were sent, signed as they were (their sent_at as old as the outage)."""

    def __init__(self, channel: Channel) -> None:
        self.channel, self.name = channel, channel.name
        self.link_up = True
        self.buffered: list[Outgoing] = []

    async def send(self, item: Outgoing) -> Outcome:
        """Send now, or keep it (behind any already kept) while the link is down."""
        if not self.link_up or self.buffered:
            self.buffered.append(item)
            return Outcome("buffered")
        return await self.channel.send(item)

    def link_down(self) -> None:
        """The link is lost: keep what comes from now on."""
        self.link_up = False

    async def forward(self) -> list[Outcome]:
        """The link is back: send what waited, oldest first; a failure stops and keeps the rest."""
        self.link_up = True
        outcomes = []
        while self.buffered:
            outcome = await self.channel.send(self.buffered[0])
            outcomes.append(outcome)
            if outcome.status == "failed":
                break
            self.buffered.pop(0)
        return outcomes

    async def close(self) -> None:
        """Close the channel underneath (what is still kept stays kept)."""
        await self.channel.close()
