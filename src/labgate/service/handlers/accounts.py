"""People and system accounts: creation and sign-in with lockout (21 CFR 11.300)."""

from __future__ import annotations

from dataclasses import replace

from labgate.compliance.access import SIGN_IN_FAILED, Account, BadCredentials
from labgate.compliance.passwords import hash_api_key, hash_password, password_matches
from labgate.domain.account_commands import SignOut
from labgate.domain.commands import ChangeAccountState, CreateAccount, SignIn
from labgate.domain.errors import DuplicateKey, InvalidInput
from labgate.domain.reasons import require_reason
from labgate.service.deps import Deps
from labgate.service.handlers.account_admin import (
    checked_password,
    checked_roles,
    keep_an_admin,
    lock_active,
)
from labgate.service.handlers.common import must_get, record
from labgate.service.refusals import check_rate
from labgate.service.unit_of_work import UnitOfWork

_ACTIONS = {
    "unlock": "account.unlocked",
    "deactivate": "account.deactivated",
    "reactivate": "account.reactivated",
}


def create_account(cmd: CreateAccount, uow: UnitOfWork, deps: Deps) -> str:
    """A new person (with a password) or system account (with an API key)."""
    with uow:
        roles = checked_roles(cmd.roles, cmd.kind, deps.role_conflicts)
        if uow.records.get(Account, username=cmd.username) is not None:
            raise DuplicateKey(
                f"User id {cmd.username} exists; user ids are never reused.", field="username"
            )
        account = Account(cmd.username, cmd.printed_name, sorted(r.value for r in roles), cmd.kind)
        if cmd.kind == "system":
            account.api_key_hash = hash_api_key(_required(cmd.api_key, "api_key"))
        else:
            # Whoever creates the account chose the password: its owner replaces it first.
            account.password_hash = hash_password(checked_password(cmd.password, "password"))
            account.must_change_password = True
        uow.records.add(account)
        record(
            uow,
            cmd.ctx,
            deps.clock.now(),
            "account.created",
            ("account", cmd.username, None),
            after={
                "username": cmd.username,
                "printed_name": cmd.printed_name,
                "roles": account.roles,
                "kind": cmd.kind,
            },
            reason="access granted",
        )
        uow.commit()
        return cmd.username


def sign_in(cmd: SignIn, uow: UnitOfWork, deps: Deps) -> Account:
    """Check user id and password; failures count towards lockout (see refusals). Whatever
    fails (unknown id, system account, wrong password, locked, deactivated), the caller gets the
    same answer after the same work, so it learns nothing about the account; a client past its
    rate of refusals is turned away before any password is tried."""
    with uow:
        check_rate(uow, deps, cmd.ctx.client)
        now = deps.clock.now()
        found = uow.records.get(Account, username=cmd.username)
        account = found if found is not None and found.kind == "person" else None
        # One hash verification whatever the account: a dummy hash stands in for a missing one.
        matches = password_matches(account.password_hash if account else None, cmd.password)
        locked = account is not None and account.is_locked(now)
        if account is None or not matches or locked or not account.active:
            raise BadCredentials(SIGN_IN_FAILED, username=cmd.username, locked=locked)
        signed_in = replace(cmd.ctx, actor_kind="person")
        if account.lift_ended_lock(now):
            record(uow, signed_in, now, "account.lock_ended", ("account", account.username, None),
                   reason="the lockout period is over")  # fmt: skip
        account.failed_attempts = 0
        record(
            uow,
            signed_in,
            now,
            "auth.signed_in",
            ("account", account.username, None),
            reason="password sign-in",
        )
        uow.commit()
        return account


def sign_out(cmd: SignOut, uow: UnitOfWork, deps: Deps) -> None:
    """The end of a person's console session, on the trail beside its sign-in."""
    with uow:
        record(
            uow,
            cmd.ctx,
            deps.clock.now(),
            "auth.signed_out",
            ("account", cmd.username, None),
            reason=cmd.why,
        )
        uow.commit()


def _required(value: str | None, field: str) -> str:
    if not value:
        raise InvalidInput(f"{field} is required.", reason="input.required", field=field)
    return value


def change_account_state(cmd: ChangeAccountState, uow: UnitOfWork, deps: Deps) -> str:
    """Unlock (failed attempts reset), deactivate or reactivate; never delete. The last active
    administrator stays; a reactivated account must still fit the role policy."""
    with uow:
        reason = require_reason(cmd.reason, what="A change of access")
        if cmd.action not in _ACTIONS:
            raise InvalidInput(
                "The action must be unlock, deactivate or reactivate.",
                reason="account.bad_action",
                field="action",
            )
        active = lock_active(uow)
        account = must_get(uow, Account, "account", "username", username=cmd.username)
        if cmd.action == "deactivate":
            keep_an_admin(active, account, "deactivating it")
        if cmd.action == "reactivate":
            checked_roles(tuple(account.roles), account.kind, deps.role_conflicts)
        before = {
            "active": account.active,
            "locked_at": account.locked_at,
            "failed_attempts": account.failed_attempts,
        }
        if cmd.action == "unlock":
            account.locked_at, account.failed_attempts = None, 0
            account.locked_until = None
        else:
            account.active = cmd.action == "reactivate"
        after = {
            "active": account.active,
            "locked_at": account.locked_at,
            "failed_attempts": account.failed_attempts,
        }
        record(
            uow,
            cmd.ctx,
            deps.clock.now(),
            _ACTIONS[cmd.action],
            ("account", account.username, None),
            before=before,
            after=after,
            reason=reason,
        )
        uow.commit()
        return account.username
