"""`labgate users` keeps segregation of duties: the role policy (LABGATE_ROLE_CONFLICTS) on create
and on role changes, temporary passwords, the last administrator, reactivation, reasons that say
why; each refusal names the field and its reason code. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from labgate.adapters.store import tables as t
from labgate.bootstrap import bootstrap
from labgate.compliance.access import Account
from labgate.compliance.passwords import password_matches
from labgate.config import Settings
from labgate.entrypoints.cli.main import app

WHY = "ticket IAM-2001: access review"


def labgate(url: str, *args: str, input: str | None = None, conflicts: Any = None) -> Result:
    """Run `labgate ARGS` in-process against the database at `url`."""
    env = {
        "LABGATE_DATABASE_URL": url,
        "LABGATE_TOKEN_SECRET": secrets.token_urlsafe(32),
        "LABGATE_ROLE_CONFLICTS": None if conflicts is None else json.dumps(conflicts),
    }
    return CliRunner().invoke(app, list(args), input=input, env=env)


def create(url: str, username: str, *roles: str, **options: Any) -> tuple[Result, str]:
    password = secrets.token_urlsafe(16)
    role_args = [arg for role in roles for arg in ("--role", role)]
    args = ("users", "create", username, "--name", username.title(), *role_args)
    return labgate(url, *args, input=f"{password}\n{password}\n", **options), password


def stored(url: str, username: str) -> Account | None:
    hub = bootstrap(Settings(database_url=url))
    try:
        with hub.sessions() as session:
            return session.scalars(select(Account).filter_by(username=username)).one_or_none()
    finally:
        hub.close()


def trail(url: str, username: str) -> list[Any]:
    hub = bootstrap(Settings(database_url=url))
    try:
        with hub.sessions() as session:
            query = select(t.audit_entries).where(t.audit_entries.c.record_id == username)
            return list(session.execute(query.order_by(t.audit_entries.c.seq)))
    finally:
        hub.close()


def test_create_refuses_roles_the_policy_keeps_apart(database_url: str) -> None:
    result, _ = create(database_url, "boss", "integration_admin", "qa")
    assert result.exit_code == 1
    assert "Roles integration_admin and qa may not be held by one account" in result.stderr
    assert "(field: roles) [access.role_conflict]" in result.stderr
    assert stored(database_url, "boss") is None
    assert [e.action for e in trail(database_url, "boss")] == ["refused.create_account"]


def test_a_site_may_allow_analyst_and_reviewer_in_its_policy(database_url: str) -> None:
    refused, _ = create(database_url, "dual", "qc_analyst", "qc_reviewer")
    assert refused.exit_code == 1 and "[access.role_conflict]" in refused.stderr
    allowing = [["integration_admin", "qa"], ["integration_admin", "qc_reviewer"]]
    allowed, _ = create(database_url, "dual", "qc_analyst", "qc_reviewer", conflicts=allowing)
    assert allowed.exit_code == 0, allowed.output
    account = stored(database_url, "dual")
    assert account is not None and account.roles == ["qc_analyst", "qc_reviewer"]
    still, _ = create(database_url, "boss", "integration_admin", "qa", conflicts=allowing)
    assert still.exit_code == 1 and "[access.role_conflict]" in still.stderr


def test_a_policy_naming_an_unknown_role_is_refused_at_start(database_url: str) -> None:
    result = labgate(database_url, "users", "list", conflicts=[["qa", "boss"]])
    assert result.exit_code == 2
    assert "LABGATE_ROLE_CONFLICTS: ['qa', 'boss'] names a role that does not exist" in (
        result.stderr
    )


def test_role_changes_follow_the_policy_and_are_audited(database_url: str) -> None:
    create(database_url, "ana", "qc_analyst")
    args = ("users", "roles", "ana", "--role", "qc_analyst", "--role", "qc_reviewer")
    refused = labgate(database_url, *args, "--reason", WHY)
    assert refused.exit_code == 1
    assert "(field: roles) [access.role_conflict]" in refused.stderr
    moved = labgate(database_url, "users", "roles", "ana", "--role", "qc_reviewer", "--reason", WHY)
    assert moved.exit_code == 0, moved.output
    assert "ana: roles now qc_reviewer" in moved.stdout
    account = stored(database_url, "ana")
    assert account is not None and account.roles == ["qc_reviewer"]
    entry = trail(database_url, "ana")[-1]
    assert (entry.action, entry.reason) == ("account.roles_changed", WHY)
    assert entry.actor.startswith("cli:")


def test_a_set_password_is_temporary_until_its_owner_changes_it(database_url: str) -> None:
    create(database_url, "quinn", "qa")
    temporary, own = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    set_password = ("users", "set-password", "quinn", "--reason", "INC-9: forgotten password")
    result = labgate(database_url, *set_password, input=f"{temporary}\n{temporary}\n")
    assert result.exit_code == 0, result.output
    assert temporary not in result.output
    account = stored(database_url, "quinn")
    assert account is not None and account.must_change_password
    assert "temp password" in labgate(database_url, "users", "list").stdout

    change = ("users", "change-password", "quinn")
    wrong = labgate(database_url, *change, input=f"not-it\n{own}\n{own}\n")
    assert wrong.exit_code == 1 and "[auth.bad_credentials]" in wrong.stderr
    done = labgate(database_url, *change, input=f"{temporary}\n{own}\n{own}\n")
    assert done.exit_code == 0, done.output
    account = stored(database_url, "quinn")
    assert account is not None and not account.must_change_password
    actions = [(e.action, e.actor) for e in trail(database_url, "quinn")]
    assert actions[-3][0] == "account.password_set" and actions[-3][1].startswith("cli:")
    assert actions[-2:] == [("refused.change_password", "quinn"),
                            ("account.password_changed", "quinn")]  # fmt: skip


def test_the_last_administrator_stays_and_a_deactivated_one_is_reactivated(
    database_url: str,
) -> None:
    create(database_url, "root1", "integration_admin")
    last = labgate(database_url, "users", "deactivate", "root1", "--reason", WHY)
    assert last.exit_code == 1
    assert "root1 is the last active integration_admin" in last.stderr
    assert "[account.last_admin]" in last.stderr
    strip = labgate(database_url, "users", "roles", "root1", "--role", "auditor", "--reason", WHY)
    assert strip.exit_code == 1 and "[account.last_admin]" in strip.stderr
    create(database_url, "root2", "integration_admin")
    assert labgate(database_url, "users", "deactivate", "root1", "--reason", WHY).exit_code == 0
    back = labgate(database_url, "users", "reactivate", "root1", "--reason", "back from leave")
    assert back.exit_code == 0, back.output
    assert "root1: reactivate done" in back.stdout
    account = stored(database_url, "root1")
    assert account is not None and account.active
    entry = trail(database_url, "root1")[-1]
    assert (entry.action, entry.reason) == ("account.reactivated", "back from leave")


def test_a_reactivated_account_must_still_fit_the_policy(database_url: str) -> None:
    allowing = [["integration_admin", "qa"]]
    create(database_url, "dual", "qc_analyst", "qc_reviewer", conflicts=allowing)
    labgate(database_url, "users", "deactivate", "dual", "--reason", WHY, conflicts=allowing)
    back = labgate(database_url, "users", "reactivate", "dual", "--reason", WHY)
    assert back.exit_code == 1 and "[access.role_conflict]" in back.stderr
    account = stored(database_url, "dual")
    assert account is not None and not account.active


def test_a_reason_of_one_character_is_refused_naming_the_field(database_url: str) -> None:
    create(database_url, "ana", "qc_analyst")
    for reason in ("0", "x"):
        result = labgate(database_url, "users", "deactivate", "ana", "--reason", reason)
        assert result.exit_code == 1
        assert f"The reason '{reason}' does not say why" in result.stderr
        assert "[input.reason_too_short]" in result.stderr
    account = stored(database_url, "ana")
    assert account is not None and account.active


def printed_temporary(output: str) -> str:
    """The one temporary password `users reset-password` printed, on its own line."""
    lines = output.splitlines()
    heading = next(i for i, line in enumerate(lines) if "temporary password (shown once" in line)
    return lines[heading + 1].strip()


@pytest.mark.requirement("URS-P11-11.300a-e")
def test_reset_password_prints_a_temporary_one_once_audited_and_to_be_changed(
    database_url: str,
) -> None:
    _, lost = create(database_url, "quinn", "qa")
    why = "INC-12: demo password lost"
    result = labgate(database_url, "users", "reset-password", "quinn", "--reason", why)
    assert result.exit_code == 0, result.output
    temporary = printed_temporary(result.stdout)
    assert len(temporary) >= 12 and result.stdout.count(temporary) == 1
    account = stored(database_url, "quinn")
    assert account is not None and account.must_change_password
    assert password_matches(account.password_hash, temporary)
    assert not password_matches(account.password_hash, lost)
    entry = trail(database_url, "quinn")[-1]
    assert (entry.action, entry.reason) == ("account.password_set", why)
    assert entry.actor.startswith("cli:") and temporary not in str(entry)

    # The temporary password is good for one thing: its owner replacing it.
    own = secrets.token_urlsafe(16)
    change = ("users", "change-password", "quinn")
    done = labgate(database_url, *change, input=f"{temporary}\n{own}\n{own}\n")
    assert done.exit_code == 0, done.output
    account = stored(database_url, "quinn")
    assert account is not None and not account.must_change_password


def test_reset_password_refuses_system_accounts_unknown_ids_and_empty_reasons(
    database_url: str,
) -> None:
    system = ("users", "create", "mes", "--name", "Plant MES", "--role", "mes_system", "--system")
    assert labgate(database_url, *system).exit_code == 0
    why = "INC-13: password lost again"
    cases = [
        (("mes", why), "[account.not_a_person]"),
        (("nobody", why), "[account.unknown]"),
        (("mes", "x"), "[input.reason_too_short]"),
    ]
    for (username, reason), code in cases:
        result = labgate(database_url, "users", "reset-password", username, "--reason", reason)
        assert result.exit_code == 1, result.output
        assert code in result.stderr and "temporary password" not in result.stdout
