"""Every refusal is audited in its own transaction, since the refused change itself rolls back;
bad credentials count towards lockout there too (21 CFR 11.300(d)). Refusals earned without
signing in are counted per client and minute: the first of each minute is audited in full, the
rest in one summary when the minute is over (compliance/throttle.py), so a flood cannot bury the
trail; past the configured rate the client is refused (Throttled)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from labgate.compliance.access import Account, BadCredentials
from labgate.compliance.audit import AuditDraft
from labgate.compliance.clock import iso_utc
from labgate.compliance.notifications import Notification
from labgate.compliance.throttle import UNAUTHENTICATED, RefusalWindow, Throttled, client_key
from labgate.domain.commands import Context
from labgate.domain.errors import LabgateError
from labgate.service.deps import Deps
from labgate.service.unit_of_work import UnitOfWork

Audit = Callable[[str, str, dict[str, object]], None]
SWEEP = 20  # ended minutes of other clients summarised per new minute: bounded work per request


def record_refusal(
    uow: UnitOfWork,
    deps: Deps,
    ctx: Context,
    error: LabgateError,
    action: str,
    subject: tuple[str, str, str | None] = ("request", "-", None),
) -> int | None:
    """Write `refused.<action>` with the reason code and field (or count it towards the client's
    summary); lock an account if due. Returns the seconds to wait when the client is over its
    rate, else None."""
    anonymous = ctx.actor_kind == UNAUTHENTICATED
    try:
        outcome = _record(uow, deps, ctx, error, action, subject)
    except Exception:
        if not anonymous:
            raise
        # Two first refusals of one client at once both add its row: the loser's transaction
        # fails on the primary key and rolls back whole, then counts against the winner's row.
        outcome = _record(uow, deps, ctx, error, action, subject)
    error.audited = True  # type: ignore[attr-defined]
    retry_after, new_minute = outcome
    if new_minute:
        _sweep(uow, deps.clock.now())
    return retry_after


def _record(
    uow: UnitOfWork,
    deps: Deps,
    ctx: Context,
    error: LabgateError,
    action: str,
    subject: tuple[str, str, str | None],
) -> tuple[int | None, bool]:
    """The refusal's transaction: its entry or count, the lockout; (seconds to wait, whether
    the client began a new minute)."""
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

    retry_after, singly, new_minute = None, True, False
    with uow:
        if ctx.actor_kind == UNAUTHENTICATED:
            window = _window(uow, client_key(ctx.client), now)
            # A failed sign-in names an account and counts towards its lockout: always audited.
            singly = new_minute = window.refused == 0
            singly = singly or isinstance(error, BadCredentials)
            window.count(error.reason, audited=singly)
            if window.refused > deps.anonymous_refusals_per_minute:
                retry_after = window.retry_after(now)
        if singly:
            after: dict[str, object] = {"reason_code": error.reason, "field": error.field}
            if isinstance(error, BadCredentials) and error.locked:
                after["account_locked"] = True
            uow.audit(draft(f"refused.{action}", error.message, after))
        if isinstance(error, BadCredentials):
            _count_failure(uow, error.username, deps, lambda a, r, x: uow.audit(draft(a, r, x)))
        uow.commit()
    return retry_after, new_minute


def check_rate(uow: UnitOfWork, deps: Deps, client: str | None) -> None:
    """Raise Throttled if the client has used up its refusals for the minute (sign-in asks
    before it verifies a password, so guessing stops there)."""
    now = deps.clock.now()
    # Read, not locked: sign-ins from one address (a plant behind NAT) do not wait for each other.
    window = next(iter(uow.records.find(RefusalWindow, client=client_key(client))), None)
    if window is None or window.ended(now):
        return
    if window.over(deps.anonymous_refusals_per_minute):
        wait = window.retry_after(now)
        raise Throttled(
            f"Too many refused requests from {window.client} without signing in "
            f"(LABGATE_ANONYMOUS_REFUSALS_PER_MINUTE is {deps.anonymous_refusals_per_minute}); "
            f"retry in {wait} seconds.",
            retry_after=wait,
        )


def _window(uow: UnitOfWork, client: str, now: datetime) -> RefusalWindow:
    """The client's current minute (its row locked); an ended one is summarised first."""
    window = uow.records.get(RefusalWindow, client=client)
    if window is None:
        window = RefusalWindow(client, now)
        uow.records.add(window)
    elif window.ended(now):
        _summarise(uow, window, now)
        window.restart(now)
    return window


def _sweep(uow: UnitOfWork, now: datetime) -> None:
    """Summarise a few other clients' ended minutes, so a burst that stopped is in the trail
    without its client coming back. One transaction each, holding no other row: two sweeps
    never wait for each other in a circle."""
    with uow:  # left without commit: nothing written
        pending = uow.records.find(RefusalWindow, pending=True)
        ended = [w.client for w in pending if w.ended(now)]
    for client in ended[:SWEEP]:
        with uow:
            window = uow.records.get(RefusalWindow, client=client)
            if window is not None and window.pending and window.ended(now):
                _summarise(uow, window, now)
                uow.commit()


def _summarise(uow: UnitOfWork, window: RefusalWindow, now: datetime) -> None:
    """One audit entry for the refusals of an ended minute not audited one by one."""
    if not window.pending:
        return
    uow.audit(
        AuditDraft(
            actor="anonymous",
            actor_kind=UNAUTHENTICATED,
            action="refused.unauthenticated_summary",
            record_type="client",
            record_id=window.client,
            at=now,
            after=window.summary(),
            reason=f"{window.refused} refusals without signing in from {window.client} "
            f"in the minute from {iso_utc(window.started_at)}; "
            f"{window.refused - window.audited} summarised here",
        )
    )
    window.pending = False


def _count_failure(uow: UnitOfWork, username: str, deps: Deps, audit: Audit) -> None:
    now = deps.clock.now()
    account = uow.records.get(Account, username=username)
    if account is None or account.is_locked(now):
        return
    if account.lift_ended_lock(now):
        audit("account.lock_ended", "the lockout period is over", {"username": username})
    account.failed_attempts += 1
    if account.failed_attempts >= deps.lockout_after:
        account.lock(now, deps.lockout_period)
        message = (
            f"{account.failed_attempts} failed attempts in a row; locked until "
            f"{iso_utc(account.locked_until) if account.locked_until else 'unlocked'}"
        )
        audit(
            "account.locked",
            message,
            {
                "username": username,
                "failed_attempts": account.failed_attempts,
                "locked_until": iso_utc(account.locked_until) if account.locked_until else None,
            },
        )
        uow.records.add(Notification(now, "account.locked", "account", username, message))
