"""The generic REST LIMS connector: labgate's sample requests (from the relay, at a webhook) are
registered in the LIMS over its REST API and the LIMS's sample id is reported back; the LIMS's
results are pulled on an interval and reported to labgate, one signed `labgate.result.v1` each.

Everything sent to labgate goes on one stream, in sequence order, so a registration always comes
before the results of its sample. A message stays owed until labgate answers for it: applied,
held, duplicate, or refused, quarantined *and its number used* (taken in, refused for its
content: the stream goes on). A refusal that left the number free (labgate could not
authenticate it as sent: a key not yet registered, a clock ahead), one that labgate did not
quarantine (a wrong API key, a revoked account) or no answer at all leaves it owed, and it is
sent again, signed afresh under the same message id and number, on the next round."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx2 as httpx

from labgate.adapters.connectors.partner.dispatch import Channel
from labgate.adapters.connectors.partner.identity import now
from labgate.adapters.connectors.partner.journal import Journal
from labgate.adapters.connectors.partner.message_types import (
    CANCELLED,
    REGISTRATION,
    RESULT,
    SAMPLE_REQUEST,
)
from labgate.adapters.connectors.partner.outgoing import Outgoing
from labgate.adapters.connectors.rest_lims_mapping import (
    MISSING,
    MappingError,
    RestLimsMapping,
    lookup,
    render,
)
from labgate.adapters.connectors.rest_lims_records import MappedRecord, Unmappable, map_record
from labgate.adapters.connectors.state import ConnectorState, Owed
from labgate.compliance.envelope import Envelope, build_envelope
from labgate.compliance.signer import Signer

log = logging.getLogger("labgate.connector.rest_lims")


class LimsError(RuntimeError):
    """The LIMS did not answer as the mapping says it would."""


def lims_headers(mapping: RestLimsMapping) -> dict[str, str]:
    """The auth header, its value read from the environment variable the mapping names."""
    if mapping.auth is None:
        return {}
    value = os.environ.get(mapping.auth.env)
    if not value:
        raise MappingError(
            f"Set the environment variable {mapping.auth.env} (auth.env in the mapping file): "
            f"it holds the value of the {mapping.auth.header} header."
        )
    return {mapping.auth.header: mapping.auth.prefix + value}


class RestLimsApi:
    """The LIMS's REST API, as the mapping describes it. Numbers in its answers are read as the
    text they were written as (98.10 stays "98.10"): a reported value is never reformatted."""

    def __init__(self, mapping: RestLimsMapping, client: httpx.AsyncClient) -> None:
        self.mapping, self.client = mapping, client

    async def register(self, request: dict[str, Any]) -> str:
        """Register one requested sample; the LIMS's id for it."""
        rules = self.mapping.registration
        body = render(rules.body, request)
        answer = await self.client.request(rules.method, rules.path, json=body)
        document = self._read(answer, f"{rules.method} {rules.path}")
        lims_id = lookup(document, rules.sample_id)
        if lims_id is MISSING or lims_id in (None, ""):
            raise LimsError(
                f"The LIMS's answer to {rules.method} {rules.path} has no sample id at "
                f"{rules.sample_id!r} (registration.sample_id): {answer.text[:200]}"
            )
        return str(lims_id)

    async def results(self, cursor: str | None) -> tuple[list[Any], str | None]:
        """One page of result records after `cursor`, and the cursor to keep."""
        rules = self.mapping.results
        params = {} if cursor is None else {rules.cursor_param: cursor}
        answer = await self.client.get(rules.path, params=params)
        document = self._read(answer, f"GET {rules.path}")
        records, next_cursor = lookup(document, rules.records), lookup(document, rules.next_cursor)
        if not isinstance(records, list):
            raise LimsError(f"The LIMS's results answer has no list at {rules.records!r}.")
        if next_cursor is MISSING:
            raise LimsError(f"The LIMS's results answer has no cursor at {rules.next_cursor!r}.")
        return records, None if next_cursor is None else str(next_cursor)

    @staticmethod
    def _read(answer: httpx.Response, what: str) -> Any:
        if answer.status_code >= 300:
            raise LimsError(f"The LIMS answered {what} with {answer.status_code}: {answer.text}")
        try:
            return json.loads(answer.content, parse_float=str, parse_int=str)
        except ValueError as error:
            raise LimsError(f"The LIMS's answer to {what} is not JSON: {error}.") from None


@dataclass
class RestLimsConnector:
    """Requests in at the webhook, registrations and results out, state kept on disk."""

    mapping: RestLimsMapping
    lims: RestLimsApi
    state: ConnectorState
    channel: Channel
    signer: Signer
    journal: Journal
    source: str = "lims"
    stream: str = "rest-lims"
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, envelope: Envelope, received_at: datetime) -> None:
        """A message from labgate (the relay retries it if this raises)."""
        payload = envelope.payload
        self.journal.write("received", message_id=envelope.message_id, schema=envelope.schema,
                           received_at=received_at, payload=payload)  # fmt: skip
        if envelope.schema == SAMPLE_REQUEST:
            await self._register(envelope)
        elif envelope.schema == CANCELLED:  # the mapping has no cancellation call: said, kept
            log.warning("sample %s was cancelled in labgate; cancel it in the LIMS by hand",
                        payload.get("sample_id"))  # fmt: skip

    async def _register(self, envelope: Envelope) -> None:
        site, sample = envelope.site, str(envelope.payload["sample_id"])
        known = self.state.lims_id(site, sample)
        if known is not None:  # a request sent again (the relay delivers at least once)
            self.journal.write("already_registered", sample=sample, lims_sample_id=known)
            return
        lims_id = await self.lims.register(envelope.payload)
        trace = envelope.correlation_id
        self.state.samples[lims_id] = {"site": site, "sample": sample, "correlation_id": trace}
        body = {"sample": sample, "lims_sample_id": lims_id}
        self.state.owe(REGISTRATION, site, body, correlation_id=trace, about=lims_id)
        self.state.save()
        self.journal.write("registered", sample=sample, lims_sample_id=lims_id)
        self.wake.set()

    async def poll(self) -> bool:
        """One page of results from the LIMS made into messages owed; True when records came
        and the cursor moved (there may be more)."""
        before = self.state.cursor
        records, cursor = await self.lims.results(before)
        for record in records:
            try:
                mapped = map_record(self.mapping.results, record)
            except Unmappable as error:
                log.error("skipped a LIMS result record: %s", error)
                self.journal.write("skipped", why=str(error))
                continue
            if mapped.key not in self.state.records:
                self._owe_result(mapped)
        self.state.cursor = cursor
        self.state.save()  # the records' message ids and the cursor, in one write
        return bool(records) and cursor != before

    def _owe_result(self, mapped: MappedRecord) -> None:
        entry = self.state.samples.get(str(mapped.lims_sample))
        site = entry["site"] if entry else self.mapping.site
        payload = dict(mapped.payload)
        if entry is not None:
            payload = {"sample": entry["sample"], **payload}
        elif mapped.lims_sample is not MISSING:  # a sample labgate never asked for: it says so
            payload = {"sample": mapped.lims_sample, **payload}
        trace = entry.get("correlation_id") if entry else None
        item = self.state.owe(RESULT, site, payload, correlation_id=trace, about=mapped.key)
        self.state.records[mapped.key] = item.message_id
        self.journal.write("owed", record=mapped.key, sequence=item.sequence,
                           message_id=item.message_id)  # fmt: skip

    async def deliver(self) -> bool:
        """Send what is owed, in sequence order, until labgate fails to answer for one; True
        when nothing is left owed."""
        for item in list(self.state.owed):
            outcome = await self.channel.send(Outgoing(self._envelope(item)))
            self.journal.write("sent", about=item.about, schema=item.schema,
                               message_id=item.message_id, sequence=item.sequence,
                               status=outcome.status, reason=outcome.reason,
                               quarantine_id=outcome.quarantine_id)  # fmt: skip
            if outcome.status == "failed" or (
                outcome.status == "refused"
                and (outcome.quarantine_id is None or outcome.sequence == "free")
            ):
                log.error("labgate did not take %s (%s); it stays owed", item.about, outcome)
                return False
            if outcome.status == "refused":
                log.warning("labgate refused %s: %s (quarantine %s)", item.about,
                            outcome.reason, outcome.quarantine_id)  # fmt: skip
            self.state.answered(item)
            self.state.save()
        return True

    def _envelope(self, item: Owed) -> dict[str, Any]:
        return build_envelope(
            item.schema,
            item.site,
            self.source,
            self.stream,
            item.sequence,
            item.payload,
            kid=self.signer.kid,
            private_jwk=self.signer.private_jwk,
            sent_at=now(),  # fresh at each attempt: labgate checks its replay window
            correlation_id=item.correlation_id,
            message_id=item.message_id,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Pull and deliver every interval (at once after a registration) until `stop`."""
        interval = self.mapping.results.interval_seconds
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.deliver()  # registrations first: their results may follow
                while await self.poll() and not stop.is_set():
                    pass
                await self.deliver()
            except (LimsError, httpx.HTTPError) as error:
                log.error("round failed, tried again in %.1f s: %s", interval, error)
            waiters = [asyncio.ensure_future(e.wait()) for e in (stop, self.wake)]
            await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
