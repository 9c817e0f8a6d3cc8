"""People and system accounts: creation and sign-in with lockout (21 CFR 11.300)."""

from __future__ import annotations

from labgate.compliance.access import SYSTEM_ROLES, Account, BadCredentials, Role
from labgate.compliance.passwords import hash_api_key, hash_password, password_matches
from labgate.domain.commands import ChangeAccountState, CreateAccount, SignIn
from labgate.domain.errors import DuplicateKey, InvalidInput, Unauthenticated
from labgate.service.deps import Deps
from labgate.service.handlers.common import must_get, record
from labgate.service.unit_of_work import UnitOfWork

MIN_PASSWORD = 12
_ACTIONS = {
    "unlock": "account.unlocked",
    "deactivate": "account.deactivated",
    "reactivate": "account.reactivated",
}


def create_account(cmd: CreateAccount, uow: UnitOfWork, deps: Deps) -> str:
    """A new person (with a password) or system account (with an API key)."""
    with uow:
        roles = _roles(cmd.roles)
        if uow.records.get(Account, username=cmd.username) is not None:
            raise DuplicateKey(
                f"User id {cmd.username} exists; user ids are never reused.", field="username"
            )
        system = cmd.kind == "system"
        if system != bool(roles & SYSTEM_ROLES) or (system and roles - SYSTEM_ROLES):
            raise InvalidInput(
                "System accounts hold only system roles, and people never do.",
                reason="account.role_kind_mismatch",
                field="roles",
            )
        account = Account(cmd.username, cmd.printed_name, sorted(r.value for r in roles), cmd.kind)
        if system:
            account.api_key_hash = hash_api_key(_required(cmd.api_key, "api_key"))
        else:
            account.password_hash = hash_password(_password(cmd.password))
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
    """Check user id and password; failures count towards lockout (see refusals)."""
    with uow:
        account = uow.records.get(Account, username=cmd.username)
        if account is None or account.kind != "person":
            raise BadCredentials("Unknown user id or wrong password.", username=cmd.username)
        if account.locked_at is not None or not account.active:
            raise Unauthenticated(
                f"Account {account.username} is locked or deactivated; ask an administrator.",
                reason="auth.locked",
                field="username",
            )
        if not password_matches(account.password_hash, cmd.password):
            raise BadCredentials("Unknown user id or wrong password.", username=cmd.username)
        account.failed_attempts = 0
        record(
            uow,
            cmd.ctx,
            deps.clock.now(),
            "auth.signed_in",
            ("account", account.username, None),
            reason="password sign-in",
        )
        uow.commit()
        return account


def _roles(names: tuple[str, ...]) -> frozenset[Role]:
    try:
        return frozenset(Role(n) for n in names)
    except ValueError:
        options = ", ".join(r.value for r in Role)
        raise InvalidInput(
            f"Roles must be among: {options}.", reason="account.bad_role", field="roles"
        ) from None


def _password(password: str | None) -> str:
    value = _required(password, "password")
    if len(value) < MIN_PASSWORD:
        raise InvalidInput(
            f"A password needs at least {MIN_PASSWORD} characters.",
            reason="account.weak_password",
            field="password",
        )
    return value


def _required(value: str | None, field: str) -> str:
    if not value:
        raise InvalidInput(f"{field} is required.", reason="input.required", field=field)
    return value


def change_account_state(cmd: ChangeAccountState, uow: UnitOfWork, deps: Deps) -> str:
    """Unlock (failed attempts reset), deactivate or reactivate; never delete."""
    with uow:
        if not cmd.reason.strip():
            raise InvalidInput(
                "A change of access needs a reason.", reason="input.reason_required", field="reason"
            )
        if cmd.action not in _ACTIONS:
            raise InvalidInput(
                "The action must be unlock, deactivate or reactivate.",
                reason="account.bad_action",
                field="action",
            )
        account = must_get(uow, Account, "account", "username", username=cmd.username)
        before = {
            "active": account.active,
            "locked_at": account.locked_at,
            "failed_attempts": account.failed_attempts,
        }
        if cmd.action == "unlock":
            account.locked_at, account.failed_attempts = None, 0
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
            reason=cmd.reason,
        )
        uow.commit()
        return account.username
