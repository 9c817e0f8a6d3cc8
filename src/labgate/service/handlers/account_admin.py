"""Account administration: roles under the site's policy, temporary passwords set by an
administrator, a person's own password change, and at least one active administrator kept."""

from __future__ import annotations

from labgate.compliance.access import (
    ADMIN,
    SYSTEM_ROLES,
    Account,
    BadCredentials,
    Role,
    RoleConflicts,
    check_role_policy,
)
from labgate.compliance.passwords import hash_api_key, hash_password, password_matches
from labgate.domain.account_commands import ChangePassword, IssueApiKey, SetPassword, SetRoles
from labgate.domain.errors import Conflict, InvalidInput, Unauthenticated
from labgate.domain.reasons import require_reason
from labgate.service.deps import Deps
from labgate.service.handlers.common import must_get, record
from labgate.service.unit_of_work import UnitOfWork

MIN_PASSWORD = 12


def set_roles(cmd: SetRoles, uow: UnitOfWork, deps: Deps) -> list[str]:
    """Replace an account's roles, under the role policy; the last administrator keeps hers."""
    with uow:
        reason = require_reason(cmd.reason, what="A change of access")
        active = lock_active(uow)
        account = must_get(uow, Account, "account", "username", username=cmd.username)
        roles = checked_roles(cmd.roles, account.kind, deps.role_conflicts)
        if ADMIN not in roles:
            keep_an_admin(active, account, "taking the integration_admin role away")
        before = list(account.roles)
        account.roles = sorted(r.value for r in roles)
        record(
            uow,
            cmd.ctx,
            deps.clock.now(),
            "account.roles_changed",
            ("account", account.username, None),
            before={"roles": before},
            after={"roles": account.roles},
            reason=reason,
        )
        uow.commit()
        return account.roles


def set_password(cmd: SetPassword, uow: UnitOfWork, deps: Deps) -> str:
    """A password an administrator chose: temporary, so its owner must replace it first."""
    with uow:
        reason = require_reason(cmd.reason, what="Setting a password")
        account = must_get(uow, Account, "account", "username", username=cmd.username)
        if account.kind != "person":
            raise InvalidInput(
                f"{account.username} is a system account: it signs in with an API key, "
                "not a password.",
                reason="account.not_a_person",
                field="username",
            )
        account.password_hash = hash_password(checked_password(cmd.password, "password"))
        account.must_change_password = True
        record(
            uow,
            cmd.ctx,
            deps.clock.now(),
            "account.password_set",
            ("account", account.username, None),
            after={"must_change_password": True},
            reason=reason,
        )
        uow.commit()
        return account.username


def issue_api_key(cmd: IssueApiKey, uow: UnitOfWork, deps: Deps) -> str:
    """A new API key for a system account (stored hashed; the caller shows it once); the key
    it replaces stops working at once."""
    with uow:
        reason = require_reason(cmd.reason, what="A new API key")
        account = must_get(uow, Account, "account", "username", username=cmd.username)
        if account.kind != "system":
            raise InvalidInput(
                f"{account.username} is a person: people sign in with a password, not an API key.",
                reason="account.not_a_system",
                field="username",
            )
        if not cmd.api_key:
            raise InvalidInput("api_key is required.", reason="input.required", field="api_key")
        account.api_key_hash = hash_api_key(cmd.api_key)
        record(
            uow,
            cmd.ctx,
            deps.clock.now(),
            "account.api_key_issued",
            ("account", account.username, None),
            reason=reason,
        )
        uow.commit()
        return account.username


def change_password(cmd: ChangePassword, uow: UnitOfWork, deps: Deps) -> str:
    """A person replaces their password, proving the current one; failures count to lockout."""
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
        if not password_matches(account.password_hash, cmd.current_password):
            raise BadCredentials(
                "The current password is wrong.",
                username=account.username,
                reason="auth.bad_credentials",
            )
        new = checked_password(cmd.new_password, "new_password")
        if new == cmd.current_password:
            raise InvalidInput(
                "The new password must differ from the current one.",
                reason="account.password_reused",
                field="new_password",
            )
        before = account.must_change_password
        account.password_hash, account.must_change_password = hash_password(new), False
        account.failed_attempts = 0
        record(
            uow,
            cmd.ctx,
            deps.clock.now(),
            "account.password_changed",
            ("account", account.username, None),
            before={"must_change_password": before},
            after={"must_change_password": False},
            reason="password changed by its owner",
        )
        uow.commit()
        return account.username


def checked_roles(names: tuple[str, ...], kind: str, conflicts: RoleConflicts) -> frozenset[Role]:
    """Known roles, of the account's kind, that the site's role policy allows together."""
    try:
        roles = frozenset(Role(n) for n in names)
    except ValueError:
        options = ", ".join(r.value for r in Role)
        raise InvalidInput(
            f"Roles must be among: {options}.", reason="account.bad_role", field="roles"
        ) from None
    if not roles:
        raise InvalidInput(
            "An account holds at least one role; to end its access, deactivate it.",
            reason="account.no_role",
            field="roles",
        )
    system = kind == "system"
    if system != bool(roles & SYSTEM_ROLES) or (system and roles - SYSTEM_ROLES):
        raise InvalidInput(
            "System accounts hold only system roles, and people never do.",
            reason="account.role_kind_mismatch",
            field="roles",
        )
    check_role_policy(roles, conflicts)
    return roles


def checked_password(password: str | None, field: str) -> str:
    """A password long enough to be one (11.300)."""
    if not password:
        raise InvalidInput(f"{field} is required.", reason="input.required", field=field)
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"A password needs at least {MIN_PASSWORD} characters.",
            reason="account.weak_password",
            field=field,
        )
    return password


def lock_active(uow: UnitOfWork) -> list[Account]:
    """Every active account, locked."""
    # Every active account, locked in key order before the target is read: two administrators
    # removing each other at once take turns, and the second sees it would be the last.
    return uow.records.find_any(Account, "active", [True])


def keep_an_admin(active: list[Account], account: Account, change: str) -> None:
    """Refuse a change that would leave no active integration_admin."""
    if not account.active or ADMIN not in account.role_set:
        return
    if any(a.username != account.username and ADMIN in a.role_set for a in active):
        return
    raise Conflict(
        f"{account.username} is the last active integration_admin; {change} would leave "
        "nobody to administer accounts. Give the role to another person first.",
        reason="account.last_admin",
        field="username",
    )
