"""What every handler needs: audit drafts, loading by business key, signature checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from labgate.compliance.access import Account, BadCredentials, Permission
from labgate.compliance.audit import AuditDraft
from labgate.compliance.canonical import to_jsonable
from labgate.compliance.passwords import password_matches
from labgate.compliance.signatures import Meaning, Signature, sign
from labgate.compliance.signed_actions import SignedAction, require_meaning
from labgate.domain.commands import Context, SignatureInput
from labgate.domain.errors import NotFound, Unauthenticated
from labgate.domain.samples import Sample
from labgate.service.unit_of_work import UnitOfWork

T = TypeVar("T")


def record(
    uow: UnitOfWork,
    ctx: Context,
    at: datetime,
    action: str,
    subject: tuple[str, str, str | None],
    *,
    before: Any = None,
    after: Any = None,
    reason: str,
) -> None:
    """Add an audit entry for a change to (record type, record id, site)."""
    record_type, record_id, site = subject
    uow.audit(
        AuditDraft(
            actor=ctx.actor,
            actor_kind=ctx.actor_kind,
            action=action,
            record_type=record_type,
            record_id=record_id,
            at=at,
            before=None if before is None else to_jsonable(before),
            after=None if after is None else to_jsonable(after),
            reason=reason,
            payload_hash=ctx.payload_hash,
            correlation_id=ctx.correlation_id,
            site=site,
        )
    )


def must_get(uow: UnitOfWork, kind: type[T], what: str, field: str, **key: Any) -> T:
    """Load a record by business key or raise NotFound naming the field."""
    found = uow.records.get(kind, **key)
    if found is None:
        shown = ", ".join(f"{k}={v}" for k, v in key.items())
        raise NotFound(f"No {what} with {shown}.", reason=f"{what}.unknown", field=field)
    return found


def load_sample(uow: UnitOfWork, site: str, code: str) -> Sample:
    """A sample by (site, code), tracked so its events reach the outbox."""
    return uow.track(must_get(uow, Sample, "sample", "sample", site=site, code=code))


def check_signature(
    uow: UnitOfWork,
    ctx: Context,
    signature: SignatureInput,
    permission: Permission,
    action: SignedAction,
) -> tuple[Account, Meaning]:
    """Both components re-entered, by the signed-in person, who holds the permission, with a
    meaning the action accepts (one table: `compliance.signed_actions`)."""
    meaning = require_meaning(action, signature.meaning)
    account = uow.records.get(Account, username=signature.username)
    if signature.username != ctx.actor or account is None:
        raise BadCredentials(
            "The signature's user id is not the signed-in user's; sign with your own id.",
            username=ctx.actor,
            reason="signature.bad_credentials",
        )
    if account.is_locked(uow._now()):  # the bus's trusted clock
        raise Unauthenticated(
            f"Account {account.username} is locked; wait for the lockout period to end, or "
            "ask an administrator to unlock it.",
            reason="auth.locked",
            field="username",
        )
    if not password_matches(account.password_hash, signature.password):
        raise BadCredentials(
            "The signature password is wrong.",
            username=account.username,
            reason="signature.bad_credentials",
        )
    account.require(permission)
    return account, meaning


def apply_signature(
    uow: UnitOfWork,
    ctx: Context,
    at: datetime,
    signer: Account,
    meaning: Meaning,
    subject: tuple[str, str, str],
    content: dict[str, Any],
) -> Signature:
    """Sign (record type, id, site) and audit the signing."""
    record_type, record_id, site = subject
    signature = sign(
        site=site,
        record_type=record_type,
        record_id=record_id,
        content=content,
        signer=signer.username,
        printed_name=signer.printed_name,
        meaning=meaning,
        at=at,
    )
    uow.records.add(signature)
    record(
        uow,
        ctx,
        at,
        "signature.applied",
        (record_type, record_id, site),
        after=signature,
        reason=f"e-signature: {meaning.value}",
    )
    return signature
