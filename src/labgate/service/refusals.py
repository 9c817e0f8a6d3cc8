"""Every refusal is audited in its own transaction, since the refused change itself rolls back;
bad credentials count towards lockout there too (21 CFR 11.300(d))."""

from __future__ import annotations

from collections.abc import Callable

from labgate.compliance.access import Account, BadCredentials
from labgate.compliance.audit import AuditDraft
from labgate.domain.commands import Context
from labgate.domain.errors import LabgateError
from labgate.service.deps import Deps
from labgate.service.unit_of_work import UnitOfWork


def record_refusal(
    uow: UnitOfWork,
    deps: Deps,
    ctx: Context,
    error: LabgateError,
    action: str,
    subject: tuple[str, str, str | None] = ("request", "-", None),
) -> None:
    """Write `refused.<action>` with the reason code and field; lock an account if due."""
    now = deps.clock.now()
    record_type, record_id, site = subject
    # Refused input can be anything: keep what is recorded within the trail's columns.
    record_id, site = record_id[:200], (site[:64] if site else site)

    def draft(action_: str, reason: str, after: dict[str, object]) -> AuditDraft:
        return AuditDraft(
            actor=ctx.actor,
            actor_kind=ctx.actor_kind,
            action=action_,
            record_type=record_type,
            record_id=record_id,
            at=now,
            after=after,
            reason=reason,
            payload_hash=ctx.payload_hash,
            correlation_id=ctx.correlation_id,
            site=site,
        )

    with uow:
        uow.audit(
            draft(
                f"refused.{action}",
                error.message,
                {"reason_code": error.reason, "field": error.field},
            )
        )
        if isinstance(error, BadCredentials):
            _count_failure(uow, error.username, deps, lambda a, r, x: uow.audit(draft(a, r, x)))
        uow.commit()
    error.audited = True  # type: ignore[attr-defined]


def _count_failure(
    uow: UnitOfWork,
    username: str,
    deps: Deps,
    audit: Callable[[str, str, dict[str, object]], None],
) -> None:
    account = uow.records.get(Account, username=username)
    if account is None or account.locked_at is not None:
        return
    account.failed_attempts += 1
    if account.failed_attempts >= deps.lockout_after:
        account.locked_at = deps.clock.now()
        audit(
            "account.locked",
            f"{account.failed_attempts} failed attempts in a row",
            {"username": username, "failed_attempts": account.failed_attempts},
        )
