"""Picks packs up from a drop folder or an SFTP server into the inbox.

A pack is claimed by an atomic rename into work/ (so two workers never take the same one), read,
and handed to the inbox, which applies it in one transaction or quarantines it; only then is it
moved to processed/ or rejected/ (with a note saying why). A worker that dies leaves the pack in
work/, and the next start takes it up again: the inbox's dedupe makes that safe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from labgate.adapters.channels.packstore import PackStore, TransportUnavailable
from labgate.adapters.codecs.filepack import pack_name
from labgate.domain.errors import LabgateError
from labgate.service.inbox import Inbox, Receipt, ReceiptRefused
from labgate.service.packs import PackRefused

log = logging.getLogger("labgate.packs")
PACK_FILE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9.%-]*_[A-Za-z0-9.%-]+_\d{8,}_\d{8}T\d{6}Z\.tar(\.pgp)?"
)


@dataclass(frozen=True)
class PackOutcome:
    """What became of one pack: processed (applied, duplicate, held) or rejected."""

    name: str
    folder: str
    status: str
    quarantine_id: int | None = None
    reason: str | None = None


class PackPickup:
    """Moves packs from incoming/ through the inbox into processed/ or rejected/."""

    def __init__(self, store: PackStore, inbox: Inbox) -> None:
        self.store, self.inbox = store, inbox

    async def run_once(self) -> list[PackOutcome]:
        """Take up what a crashed worker left, then every pack ready now, oldest name first."""
        outcomes = [await self._process(name) for name in await self.store.claimed()]
        for name in await self.store.ready():
            if await self.store.claim(name):
                outcomes.append(await self._process(name))
        return outcomes

    async def run(self, stop: asyncio.Event, poll: timedelta) -> None:
        """Poll until `stop` is set; also quarantines messages held past their gap timeout.
        Raises TransportUnavailable when the exchange is lost (the caller reconnects)."""
        await self.store.prepare()
        while not stop.is_set():
            try:
                for outcome in await self.run_once():
                    log.info("pack %s → %s (%s)", outcome.name, outcome.folder, outcome.status)
                await asyncio.to_thread(self.inbox.expire_held)
            except TransportUnavailable:
                raise  # the caller reconnects; the pack in work/ is taken up after that
            except Exception:
                # Undecided (the database or the SFTP server is away): the pack stays in work/
                # and is taken up again at the next poll; the inbox's dedupe makes that safe.
                log.exception("pack pick-up paused until the next poll")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll.total_seconds())

    async def _process(self, name: str) -> PackOutcome:
        raw = await self.store.read(name)
        try:
            receipt = await asyncio.to_thread(self._receive, name, raw)
        except ReceiptRefused as refused:
            note = {"quarantine_id": refused.quarantine_id, "reason": refused.reason,
                    "field": refused.field, "detail": refused.message}  # fmt: skip
            await self.store.finish(name, "rejected", json.dumps(note, indent=2).encode())
            return PackOutcome(name, "rejected", "quarantined", refused.quarantine_id,
                               refused.reason)  # fmt: skip
        await self.store.finish(name, "processed")
        return PackOutcome(name, "processed", receipt.status)

    def _receive(self, name: str, raw: bytes) -> Receipt:
        channel = self.store.channel
        try:
            self._check_name(name, raw)
        except LabgateError as error:
            raise ReceiptRefused(error, self.inbox.quarantine_raw(raw, channel, error)) from None
        return self.inbox.receive(raw, channel)

    def _check_name(self, name: str, raw: bytes) -> None:
        """The file name follows the pattern and says what the signed manifest says."""
        if not PACK_FILE.fullmatch(name):
            raise PackRefused(
                f"{name[:80]!r} is not a pack name: SITE_TYPE_SEQUENCE_yyyymmddThhmmssZ.tar "
                "(.tar.pgp when encrypted).",
                reason="pack.bad_name",
                field="name",
            )
        try:
            envelope = self.inbox.decode(raw, self.store.channel).envelope
        except LabgateError:
            return  # unreadable: the inbox refuses it with the precise reason
        expected = pack_name(envelope) + (".pgp" if name.endswith(".pgp") else "")
        if name != expected:
            raise PackRefused(
                f"The pack is named {name[:80]!r}, but its signed manifest makes it {expected}.",
                reason="pack.name_mismatch",
                field="name",
            )
