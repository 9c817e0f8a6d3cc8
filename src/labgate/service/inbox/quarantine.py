"""The quarantine desk: an authorised person reprocesses a refused message from its original raw
bytes (after, say, a missing mapping was added) or discards it, with an e-signature and a reason.
Nothing leaves quarantine silently, and nothing is ever deleted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labgate.compliance.access import Permission
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.commands import Context, SignatureInput
from labgate.domain.errors import Conflict, LabgateError
from labgate.domain.reasons import require_reason
from labgate.service.config_cache import KeysChanged
from labgate.service.handlers.common import apply_signature, check_signature, must_get, record
from labgate.service.inbox.admission import Inbox
from labgate.service.inbox.incoming import Incoming
from labgate.service.inbox_records import InboxMessage, QuarantineItem
from labgate.service.refusals import record_refusal


@dataclass(frozen=True)
class Resolution:
    """An operator's decision on one quarantined message."""

    ctx: Context
    item: int
    reason: str
    signature: SignatureInput


class QuarantineDesk:
    """Reprocess or discard quarantined messages."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.uow_factory = inbox.uow_factory
        self.deps = inbox.bus.deps

    def discard(self, decision: Resolution) -> None:
        """Close an item for good; its raw bytes stay on record."""
        self._guarded(decision, "discard", lambda item: self._close(decision, "discarded"))

    def reprocess(self, decision: Resolution) -> Any:
        """Run the original raw message again; the signature and key are checked again. One
        taken in (its number used) is applied past the sequence check that had its say; one
        never taken in holds no number, so it is admitted in its turn like any message: it
        cannot take a number the sender has since used for the message sent in its place."""

        def run(item: QuarantineItem) -> Any:
            if item.message_id is None:
                raise Conflict(
                    f"Quarantined message {decision.item} was never a readable envelope; "
                    "it can only be discarded.",
                    reason="quarantine.not_reprocessable",
                    field="item",
                )
            incoming = self.inbox.decode(item.raw, item.channel)
            envelope = incoming.envelope
            self._not_applied_since(envelope.source, envelope.message_id)
            while True:
                verified = self.inbox.verify(envelope, fresh=True)
                try:
                    outcome = self._again(incoming, item, verified)
                    break
                except KeysChanged:
                    continue  # a key changed since it was read: checked again with today's
            self._close(decision, "reprocessed")
            return outcome

        return self._guarded(decision, "reprocess", run)

    def _again(self, incoming: Incoming, item: QuarantineItem, verified: int | None) -> Any:
        envelope = incoming.envelope
        if self._taken_in(envelope.source, envelope.message_id, item.sha256):
            return self.inbox.run(incoming, item.raw, item.channel, False, verified)
        receipt = self.inbox.readmit(incoming, item.raw, item.channel, verified)
        return receipt.outcome if receipt.status == "applied" else receipt.status

    def _taken_in(self, source: str, message_id: str, sha256: str) -> bool:
        with self.uow_factory().reading() as uow:
            known = uow.records.get(InboxMessage, source=source, message_id=message_id)
            return known is not None and known.payload_hash == sha256

    def _not_applied_since(self, source: str, message_id: str) -> None:
        with self.uow_factory() as uow:
            known = uow.records.get(InboxMessage, source=source, message_id=message_id)
            if known is not None and known.status == "applied":
                raise Conflict(
                    f"Message {message_id} from {source} was applied since; "
                    "discard this copy instead.",
                    reason="quarantine.already_applied",
                    field="item",
                )

    def _guarded(self, decision: Resolution, action: str, work: Any) -> Any:
        """Signature and reason first; a refusal is audited and leaves the item open."""
        try:
            item = self._open_item(decision)
            return work(item)
        except LabgateError as error:
            if not getattr(error, "audited", False):
                record_refusal(
                    self.uow_factory(),
                    self.deps,
                    decision.ctx,
                    error,
                    f"quarantine_{action}",
                    ("quarantine", str(decision.item), None),
                )
            raise

    def _open_item(self, decision: Resolution) -> QuarantineItem:
        require_reason(decision.reason, what="Resolving a quarantined message")
        with self.uow_factory() as uow:
            check_signature(
                uow,
                decision.ctx,
                decision.signature,
                Permission.MANAGE_QUARANTINE,
                SignedAction.RESOLVE_QUARANTINE,
            )
            item = must_get(uow, QuarantineItem, "quarantine", "item", id=decision.item)
            if item.status != "open":
                raise Conflict(
                    f"Quarantined message {decision.item} is already {item.status}.",
                    reason="quarantine.closed",
                    field="item",
                )
            return QuarantineItem(**{k: getattr(item, k) for k in item.__dataclass_fields__})

    def _close(self, decision: Resolution, status: str) -> None:
        with self.uow_factory() as uow:
            signer, meaning = check_signature(
                uow,
                decision.ctx,
                decision.signature,
                Permission.MANAGE_QUARANTINE,
                SignedAction.RESOLVE_QUARANTINE,
            )
            item = must_get(uow, QuarantineItem, "quarantine", "item", id=decision.item)
            now = self.deps.clock.now()
            before = {"status": item.status}
            item.status, item.resolved_by, item.resolved_at = status, signer.username, now
            item.resolution_reason = decision.reason
            subject = ("quarantine", str(decision.item), None)
            record(
                uow,
                decision.ctx,
                now,
                f"quarantine.{status}",
                subject,
                before=before,
                after={"status": status, "resolved_by": signer.username},
                reason=decision.reason,
            )
            content = {"item": decision.item, "sha256": item.sha256, "decision": status}
            apply_signature(
                uow,
                decision.ctx,
                now,
                signer,
                meaning,
                ("quarantine", str(decision.item), "-"),
                content,
            )
            uow.commit()
