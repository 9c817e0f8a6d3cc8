"""Picks packs up from a drop folder or an SFTP server into the inbox.

A pack is claimed by an atomic rename into work/ (so two workers never take the same one), read,
and handed to the inbox, which applies it in one transaction or quarantines it; only then is it
moved to processed/ or rejected/ (with a note saying why). A pack that waits for an earlier
sequence stays in work/ until the inbox has applied it (then processed/) or refused it (then
rejected/, with its note): processed/ holds only what was applied. A worker that dies leaves the
pack in work/, and the next poll takes it up again: the inbox's dedupe makes that safe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from labgate.adapters.channels.message_log import log_message
from labgate.adapters.channels.packstore import PackStore, TransportUnavailable
from labgate.adapters.codecs.filepack import pack_name
from labgate.domain.errors import LabgateError
from labgate.service.inbox.admission import Inbox, Receipt, ReceiptRefused
from labgate.service.inbox.lookup import Settled, taken_in
from labgate.service.packs import PackRefused

log = logging.getLogger("labgate.packs")
PACK_FILE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9.%-]*_[A-Za-z0-9.%-]+_\d{8,}_\d{8}T\d{6}Z\.tar(\.pgp)?"
)


@dataclass(frozen=True)
class PackOutcome:
    """What became of one pack: processed (applied, duplicate), still in work (held) or
    rejected (quarantined)."""

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
        outcomes = [await self._resume(name) for name in await self.store.claimed()]
        for name in await self.store.ready():
            if await self.store.claim(name):
                outcomes.append(await self._process(name))
        if any(o.folder != "work" for o in outcomes):
            # What was applied now may have let packs waiting in work/ go: move them on too.
            outcomes = [await self._resume(o.name) if o.folder == "work" else o for o in outcomes]
        return outcomes

    async def run(self, stop: asyncio.Event, poll: timedelta) -> None:
        """Poll until `stop` is set; also quarantines messages held past their gap timeout.
        Raises TransportUnavailable when the exchange is lost (the caller reconnects)."""
        await self.store.prepare()
        while not stop.is_set():
            try:
                for outcome in await self.run_once():
                    # A waiting pack is seen at every poll: said once, when it starts to wait.
                    level = logging.DEBUG if outcome.folder == "work" else logging.INFO
                    log.log(level, "pack %s → %s (%s)", outcome.name, outcome.folder,
                            outcome.status)  # fmt: skip
                await asyncio.to_thread(self.inbox.expire_held)
            except TransportUnavailable:
                raise  # the caller reconnects; the pack in work/ is taken up after that
            except Exception:
                # Undecided (the database or the SFTP server is away): the pack stays in work/
                # and is taken up again at the next poll; the inbox's dedupe makes that safe.
                log.exception("pack pick-up paused until the next poll")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll.total_seconds())

    async def _resume(self, name: str) -> PackOutcome:
        """A pack found in work/: one the inbox took in (waiting, or a worker died before moving
        it) is settled by what became of it, without receiving it again; any other is new."""
        raw = await self.store.read(name)
        known = await asyncio.to_thread(taken_in, self.inbox, raw, self.store.channel)
        if known is None:
            return await self._process(name, raw)
        return await self._settle(name, known)

    async def _process(self, name: str, raw: bytes | None = None) -> PackOutcome:
        raw = await self.store.read(name) if raw is None else raw
        try:
            receipt = await asyncio.to_thread(self._receive, name, raw)
        except ReceiptRefused as refused:
            log_message(self.store.channel, raw, refused, pack=name)
            why = Settled("quarantined", refused.quarantine_id, refused.reason, refused.field,
                          refused.message, refused.number_used)  # fmt: skip
            return await self._reject(name, why)
        log_message(self.store.channel, raw, receipt, pack=name)
        if receipt.status == "held":
            return PackOutcome(name, "work", "held")  # nothing of it applied yet
        await self.store.finish(name, "processed")
        return PackOutcome(name, "processed", receipt.status)

    async def _settle(self, name: str, known: Settled) -> PackOutcome:
        if known.status == "held":
            return PackOutcome(name, "work", "held")
        if known.status == "quarantined":
            return await self._reject(name, known)
        await self.store.finish(name, "processed")
        return PackOutcome(name, "processed", known.status)

    async def _reject(self, name: str, why: Settled) -> PackOutcome:
        note = {
            "quarantine_id": why.quarantine_id,
            "reason": why.reason,
            "field": why.field,
            "detail": why.detail,
            # used: taken in and refused by its use case, send the next; free: send it again.
            "sequence": "used" if why.number_used else "free",
        }
        await self.store.finish(name, "rejected", json.dumps(note, indent=2).encode())
        return PackOutcome(name, "rejected", "quarantined", why.quarantine_id, why.reason)

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
