"""`labgate users`: create accounts, change roles under the site's policy, set temporary
passwords (chosen, or random for a lost one), change your own, unlock, deactivate and
reactivate; every change audited."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from labgate.compliance.access import Account
from labgate.domain.account_commands import ChangePassword, SetPassword, SetRoles
from labgate.domain.commands import ChangeAccountState, Command, Context, CreateAccount

if TYPE_CHECKING:
    from labgate.bootstrap import Hub
    from labgate.config import Settings
    from labgate.database import Database

users_app = typer.Typer(help="People and system accounts.", no_args_is_help=True)
Reason = Annotated[str, typer.Option(help="Why access changes (at least 10 characters).")]
Roles = Annotated[list[str], typer.Option("--role", help="A role; repeat for several.")]


@users_app.command("create")
def users_create(
    username: str,
    printed_name: Annotated[str, typer.Option("--name", help="Printed name on signatures.")],
    role: Roles,
    system: Annotated[bool, typer.Option(help="A system account (API key, no password).")] = False,
) -> None:
    """Create an account; a person is asked for a temporary password (changed at first sign-in),
    a system account gets an API key."""
    from labgate.compliance.passwords import new_api_key
    from labgate.entrypoints.cli.main import cli_context, console

    api_key = new_api_key() if system else None
    password = (
        None if system else typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    )
    kind = "system" if system else "person"
    _run(CreateAccount(cli_context(), username, printed_name, tuple(role), password, kind, api_key))
    shown = f"; API key (shown once): {api_key}" if api_key else "; change the password at sign-in"
    console.print(f"created {username}{shown}")


@users_app.command("list")
def users_list() -> None:
    """List every account (accounts are never deleted)."""
    from rich.table import Table

    from labgate.compliance.clock import SystemClock
    from labgate.entrypoints.cli.main import console

    # Reading needs the database only, not the bus a hub builds (and the imports it costs).
    with _database() as database:
        table = Table("user id", "printed name", "kind", "roles", "state")
        now = SystemClock().now()  # the clock a hub's bus reads
        with database.uow_factory() as uow:
            for a in uow.records.find(Account):
                # A lock ends by itself at locked_until (sign-in clears it on the next attempt).
                state = "locked" if a.is_locked(now) else ("active" if a.active else "inactive")
                if state == "active" and a.must_change_password:
                    state = "temp password"  # active, for changing it and nothing else
                table.add_row(a.username, a.printed_name, a.kind, ", ".join(a.roles), state)
        console.print(table)


@users_app.command("unlock")
def users_unlock(username: str, reason: Reason) -> None:
    """Unlock an account locked after failed attempts."""
    _account_state(username, "unlock", reason)


@users_app.command("deactivate")
def users_deactivate(username: str, reason: Reason) -> None:
    """Deactivate an account (user ids are never deleted or reused); never the last admin."""
    _account_state(username, "deactivate", reason)


@users_app.command("reactivate")
def users_reactivate(username: str, reason: Reason) -> None:
    """Reactivate a deactivated account (its roles must still fit the role policy)."""
    _account_state(username, "reactivate", reason)


@users_app.command("roles")
def users_roles(username: str, role: Roles, reason: Reason) -> None:
    """Replace an account's roles (LABGATE_ROLE_CONFLICTS names the pairs kept apart)."""
    from labgate.entrypoints.cli.main import cli_context, console

    roles = _run(SetRoles(cli_context(), username, tuple(role), reason))
    console.print(f"{username}: roles now {', '.join(roles)}")


@users_app.command("set-password")
def users_set_password(username: str, reason: Reason) -> None:
    """Set a person's password: temporary, its owner must change it at the next sign-in."""
    from labgate.entrypoints.cli.main import cli_context, console

    password = typer.prompt("Temporary password", hide_input=True, confirmation_prompt=True)
    _run(SetPassword(cli_context(), username, password, reason))
    console.print(f"{username}: temporary password set; it must be changed at the next sign-in")


@users_app.command("reset-password")
def users_reset_password(username: str, reason: Reason) -> None:
    """Replace a lost password with a random temporary one, printed once; its owner must change
    it at the next sign-in."""
    import secrets

    from labgate.entrypoints.cli.main import cli_context, console

    # 16 URL-safe characters: above the 12 the policy asks, and copied without quoting.
    temporary = secrets.token_urlsafe(12)
    _run(SetPassword(cli_context(), username, temporary, reason))
    console.print(f"{username}: temporary password (shown once; change it at the next sign-in):")
    # One unwrapped, unstyled line: a password folded or coloured is copied wrong.
    console.print(f"  {temporary}", soft_wrap=True, markup=False, highlight=False)


@users_app.command("change-password")
def users_change_password(username: str) -> None:
    """Change your own password (asked for the current one): required after a temporary one."""
    from labgate.entrypoints.cli.main import console

    current = typer.prompt("Current password", hide_input=True)
    new = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    # The person proves who they are with the current password: the change is theirs.
    _run(ChangePassword(Context(username, "person"), username, current, new))
    console.print(f"{username}: password changed")


def _account_state(username: str, action: str, reason: str) -> None:
    from labgate.entrypoints.cli.main import cli_context, console

    _run(ChangeAccountState(cli_context(), username, action, reason))
    console.print(f"{username}: {action} done")


def _run(command: Command) -> Any:
    from labgate.domain.errors import LabgateError
    from labgate.entrypoints.cli.main import fail

    with _hub() as hub:
        try:
            return hub.bus.handle(command)
        except LabgateError as error:
            raise fail(error) from None


def _hub() -> AbstractContextManager[Hub]:
    # main imports this module to register `users`: its helpers are imported when a command runs.
    from labgate.entrypoints.cli.main import open_hub

    return open_hub(_settings())


def _database() -> AbstractContextManager[Database]:
    from labgate.entrypoints.cli.main import open_database

    return open_database(_settings())


def _settings() -> Settings:
    from labgate.config import Settings
    from labgate.entrypoints.cli.main import fail

    try:
        return Settings()
    except ValueError as error:  # e.g. a role in LABGATE_ROLE_CONFLICTS that does not exist
        raise fail(error, 2) from None
