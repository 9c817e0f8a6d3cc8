"""The outbox relay: delivers the messages owed to the MES and the LIMS after commit, at least once.

Per destination, due rows go out oldest first, each signed as an envelope that carries the row's
message id (receivers de-duplicate on it, so a retry after a timeout never doubles an effect) and
its gap-free sequence on the destination's stream, numbered at commit. A row retried after a
failure arrives after later ones; a receiver that orders by sequence holds those until it comes.
Each row has its own short transactions:

    claim (a lease: while it holds, no other relay sends the row)
      → sign → deliver (outside any transaction: a slow receiver holds no database lock)
      → record the attempt and the row's new state

A failed row backs off (the base delay, doubled after each failure, capped) without holding back
the rows after it; after `max_attempts` it is dead-lettered, audited, until an operator retries
it, audited, with a reason. Rows are never deleted: the database refuses it.

Before signing, the relay hashes the row's content again and compares it with the seal recorded
in the audit trail when the row was committed (one hash a row). A row changed since is never
signed: it is held (status `held`, reason `outbox.seal_broken`), audited, and stays for an
investigation; no retry sends it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from labgate.compliance.audit import AuditDraft
from labgate.compliance.clock import Clock
from labgate.compliance.envelope import build_envelope, encode
from labgate.compliance.signer import Signer
from labgate.domain.commands import Context
from labgate.domain.errors import InvalidInput, InvalidTransition, LabgateError, NotFound
from labgate.domain.reasons import require_reason
from labgate.service.outbox.records import SealBroken, check_seal, content_hash

log = logging.getLogger("labgate.relay")

SOURCE = "labgate"  # the envelope's source: receivers look up labgate's public key by it
RELAY_ACTOR = "labgate-relay"
# The delivery policy (stated in the ICD): attempts before a row is dead-lettered, and the
# exponential back-off between them.
MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(seconds=2)
MAX_DELAY = timedelta(minutes=10)
PENDING, DELIVERED, DEAD, HELD = "pending", "delivered", "dead", "held"


class DeliveryFailed(LabgateError):
    """A receiver did not take a message: unreachable, too slow, or it answered with an error."""

    default_reason = "outbox.delivery_failed"


class Transport(Protocol):
    """One channel to the receivers; returns only once the receiver has taken the message."""

    def deliver(self, destination: str, envelope: bytes, message_id: str) -> None:
        """Hand over the signed envelope; raise DeliveryFailed(detail) if it was not taken."""
        ...


@dataclass(frozen=True)
class Delivery:
    """An outbox row as the relay sees it."""

    id: int
    site: str
    destination: str
    schema: str
    message_id: str
    correlation_id: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    sequence: int
    seal: str | None = None  # the content hash its commit recorded in the audit trail


@dataclass(frozen=True)
class Attempt:
    """One try at delivering one row, and the state it leaves the row in."""

    outbox_id: int
    number: int
    at: datetime
    outcome: str  # delivered | failed | refused (no envelope could be built) | held (seal)
    detail: str | None
    status: str
    next_attempt_at: datetime | None


class DeliveryQueue(Protocol):
    """The outbox as the relay works through it."""

    def due(self, now: datetime, destination: str, limit: int) -> list[Delivery]:
        """Pending rows for `destination` whose next attempt is due, oldest first."""
        ...

    def claim(self, outbox_id: int, now: datetime, until: datetime) -> int | None:
        """Lease a due row until `until`; its attempts so far, or None if it is not ours."""
        ...

    def record_attempt(self, attempt: Attempt, audit: AuditDraft | None) -> None:
        """Keep the attempt and move the row, with the audit entry if any, in one transaction."""
        ...


class DeadLetters(Protocol):
    """Dead-lettered rows, put back by an operator."""

    def requeue(
        self, message_ids: Sequence[str], check: Callable[[list[Delivery]], list[AuditDraft]]
    ) -> None:
        """In one transaction: `check` the rows found (it raises to refuse), make them pending
        again and append the audit entries it returned."""
        ...


class OutboxStore(DeliveryQueue, DeadLetters, Protocol):
    """Both sides of the outbox."""


@dataclass(frozen=True)
class RelayReport:
    """What one pass did: rows delivered, rows that failed and wait, rows dead-lettered, rows
    held because their content no longer matches their seal, and the destinations whose due
    rows filled the batch (more may be due: the pass stopped at its limit)."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0
    held: int = 0
    at_limit: tuple[str, ...] = ()


def backoff(number: int, base: timedelta, cap: timedelta) -> timedelta:
    """The wait after failed attempt `number` (1, 2, …): base doubled each time, at most cap."""
    delay = base
    for _ in range(1, number):
        if delay >= cap:
            break
        delay *= 2
    return min(delay, cap)


class Relay:
    """Delivers due outbox rows through one transport per destination."""

    def __init__(
        self,
        store: OutboxStore,
        transports: Mapping[str, Transport],
        clock: Clock,
        signer: Signer,
        max_attempts: int = MAX_ATTEMPTS,
        base_delay: timedelta = BASE_DELAY,
        max_delay: timedelta = MAX_DELAY,
        batch: int = 100,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        if max_attempts < 1 or batch < 1:
            raise ValueError("max_attempts and batch must be at least 1.")
        if not timedelta(0) < base_delay <= max_delay:
            raise ValueError("base_delay must be positive and no longer than max_delay.")
        self.store, self.transports, self.clock, self.signer = store, transports, clock, signer
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.batch, self.lease = batch, lease

    def run_once(self) -> RelayReport:
        """One pass over every destination's due rows; a failing row never stops the others."""
        counts: Counter[str] = Counter()
        at_limit = []
        for destination in sorted(self.transports):
            transport = self.transports[destination]
            rows = self.store.due(self.clock.now(), destination, self.batch)
            if len(rows) >= self.batch:
                at_limit.append(destination)
            for row in rows:
                counts[self._send(row, transport)] += 1
        return RelayReport(
            counts[DELIVERED], counts[PENDING], counts[DEAD], counts[HELD], tuple(at_limit)
        )

    def retry_dead(
        self,
        message_ids: Sequence[str],
        actor: str,
        reason: str,
        *,
        actor_kind: str = "person",
        correlation_id: str | None = None,
    ) -> list[str]:
        """Put dead-lettered rows back to pending with a fresh round of attempts, audited."""
        ctx = Context(actor, actor_kind, correlation_id)
        return retry_dead(self.store, self.clock, ctx, message_ids, reason)

    def _send(self, row: Delivery, transport: Transport) -> str:
        now = self.clock.now()
        attempts = self.store.claim(row.id, now, now + self.lease)
        if attempts is None:  # another relay has it, or it was settled since `due`
            return "skipped"
        number = attempts + 1
        try:
            found = content_hash(row.site, row.destination, row.schema, row.message_id,
                                 row.correlation_id, row.sequence, row.payload)  # fmt: skip
            check_seal(row.message_id, row.seal, found)
        except SealBroken as error:
            return self._settle(row, number, HELD, f"{error.message} [{error.reason}]")
        try:
            envelope = self._envelope(row, now)
        except (LabgateError, ValueError) as error:
            # The same row would fail the same way every time: dead-letter it now.
            return self._settle(row, number, "refused", f"Cannot sign the envelope: {error}")
        try:
            transport.deliver(row.destination, envelope, row.message_id)
        except DeliveryFailed as error:
            return self._settle(row, number, "failed", error.message)
        except Exception as error:
            # A transport bug must not stop the other rows; it is kept and logged in full.
            log.exception("transport for %s failed on %s", row.destination, row.message_id)
            return self._settle(row, number, "failed", f"{type(error).__name__}: {error}")
        return self._settle(row, number, DELIVERED, None)

    def _envelope(self, row: Delivery, now: datetime) -> bytes:
        # Signed at each attempt: sent_at is fresh, so receivers' replay windows accept retries.
        document = build_envelope(
            row.schema,
            row.site,
            SOURCE,
            row.destination,
            row.sequence,
            row.payload,
            kid=self.signer.kid,
            private_jwk=self.signer.private_jwk,
            sent_at=now,
            correlation_id=row.correlation_id,
            message_id=row.message_id,
        )
        return encode(document)

    def _settle(self, row: Delivery, number: int, outcome: str, detail: str | None) -> str:
        at = self.clock.now()
        next_at: datetime | None = None
        if outcome in (DELIVERED, HELD):
            status = outcome
        elif outcome == "refused" or number >= self.max_attempts:
            status = DEAD
        else:
            status = PENDING
            next_at = at + backoff(number, self.base_delay, self.max_delay)
        audit = self._stopped(row, number, status, detail, at) if status in (DEAD, HELD) else None
        self.store.record_attempt(
            Attempt(row.id, number, at, outcome, detail, status, next_at), audit
        )
        if status in (DEAD, HELD):
            log.error("%s %s to %s: %s", status, row.message_id, row.destination, detail)
        elif status == PENDING:
            log.warning("attempt %d of %s failed: %s", number, row.message_id, detail)
        return status

    def _stopped(
        self, row: Delivery, number: int, status: str, detail: str | None, at: datetime
    ) -> AuditDraft:
        after: dict[str, Any] = {"status": status, "attempts": number, "last_error": detail}
        if status == HELD:
            after["seal"] = row.seal
        return AuditDraft(
            actor=RELAY_ACTOR,
            actor_kind="system",
            action="outbox.dead_lettered" if status == DEAD else "outbox.held",
            record_type="outbox",
            record_id=row.message_id,
            at=at,
            before={"status": PENDING, "attempts": number - 1},
            after=after,
            correlation_id=row.correlation_id,
            site=row.site,
        )


def retry_dead(
    store: DeadLetters, clock: Clock, ctx: Context, message_ids: Sequence[str], reason: str
) -> list[str]:
    """Requeue dead-lettered rows, all or none; each one audited `outbox.retry` with the reason."""
    require_reason(
        reason, what="Retrying dead-lettered messages", required_code="outbox.reason_required"
    )
    wanted = list(dict.fromkeys(message_ids))
    if not wanted:
        raise InvalidInput("Name at least one message to retry.", field="message_ids")
    now = clock.now()

    def check(found: list[Delivery]) -> list[AuditDraft]:
        by_id = {row.message_id: row for row in found}
        for message_id in wanted:
            row = by_id.get(message_id)
            if row is None:
                raise NotFound(
                    f"No outbox message {message_id}.", reason="outbox.unknown", field="message_ids"
                )
            if row.status == HELD:
                raise InvalidTransition(
                    f"Cannot retry message {message_id}: it is held because its content no "
                    "longer matches its seal, and a changed message is never sent.",
                    reason="outbox.seal_broken",
                    field="message_ids",
                )
            if row.status != DEAD:
                raise InvalidTransition(
                    f"Cannot retry message {message_id} in status {row.status}; only "
                    "dead-lettered messages are retried.",
                    field="message_ids",
                )
        return [_retried(by_id[m], ctx, reason, now) for m in wanted]

    store.requeue(wanted, check)
    return wanted


def _retried(row: Delivery, ctx: Context, reason: str, at: datetime) -> AuditDraft:
    return AuditDraft(
        actor=ctx.actor,
        actor_kind=ctx.actor_kind,
        action="outbox.retry",
        record_type="outbox",
        record_id=row.message_id,
        at=at,
        before={"status": DEAD, "attempts": row.attempts},
        after={"status": PENDING, "attempts": 0},
        reason=reason,
        payload_hash=ctx.payload_hash,
        correlation_id=ctx.correlation_id or row.correlation_id,
        site=row.site,
    )
