"""The bus handles a command's events in its transaction; accounts are unlocked or deactivated,
never deleted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fakes import FakeUnitOfWork, ManualClock, TableUnits
from labgate.compliance.access import Account, BadCredentials
from labgate.compliance.passwords import hash_password
from labgate.domain import commands as c
from labgate.domain.errors import InvalidInput, NotFound, Unauthenticated
from labgate.domain.events import Event, SampleCancelled
from labgate.domain.lifecycle import SampleStatus
from labgate.domain.samples import Sample
from labgate.service.deps import Deps
from labgate.service.messagebus import MessageBus
from labgate.service.reactions.routing import EVENT_HANDLERS
from labgate.service.reactions.scope import Scope
from labgate.service.unit_of_work import UnitOfWork

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


def bus_with(uow: FakeUnitOfWork, seen: list[Event], fail: bool = False) -> MessageBus:
    def handler(event: Event, _uow: UnitOfWork, _scope: Scope) -> None:
        seen.append(event)
        if fail:
            raise RuntimeError("reaction failed")

    deps = Deps(ManualClock(AT), lambda _e: TableUnits({}))
    table = {**EVENT_HANDLERS, SampleCancelled: [*EVENT_HANDLERS[SampleCancelled], handler]}
    return MessageBus(lambda: uow, deps, table)


def cancellable(uow: FakeUnitOfWork) -> None:
    sample = Sample("S1", "S-000001", "P1", "SPEC", 1, AT, "mes")
    sample.status = SampleStatus.REGISTERED
    uow.records.add(sample)


def test_events_reach_their_handlers_in_the_transaction() -> None:
    uow, seen = FakeUnitOfWork(), []
    cancellable(uow)
    bus_with(uow, seen).handle(c.CancelSample(c.Context("ana"), "S1", "S-000001", "broken vial"))
    assert [type(e).__name__ for e in seen] == ["SampleCancelled"]
    assert [m.message_type for m in uow.sent] == ["sample_cancelled"]
    assert uow.committed == 1


def test_a_failing_reaction_undoes_the_whole_change() -> None:
    # Reactions run in the change's transaction (promise 1): all of it commits, or none.
    uow, seen = FakeUnitOfWork(), []
    cancellable(uow)
    with pytest.raises(RuntimeError, match="reaction failed"):
        bus_with(uow, seen, fail=True).handle(
            c.CancelSample(c.Context("ana"), "S1", "S-000001", "vial broken")
        )
    assert (uow.committed, uow.sent, uow.audit_log) == (0, [], [])


@pytest.mark.requirement("URS-P11-11.300a-e", category="boundary")
def test_sign_in_locks_after_repeated_failures_and_an_admin_unlocks() -> None:
    uow = FakeUnitOfWork()
    uow.records.add(Account("ana", "Ana", ["qc_analyst"], password_hash=hash_password(PASSWORD)))
    bus = bus_with(uow, [])
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            bus.handle(c.SignIn(c.Context("ana"), "ana", "wrong"))
    with pytest.raises(BadCredentials) as locked:
        bus.handle(c.SignIn(c.Context("ana"), "ana", PASSWORD))
    # The caller hears what a wrong password gets; only the trail says the account is locked.
    assert (locked.value.reason, locked.value.locked) == ("auth.bad_credentials", True)
    admin = c.Context("admin")
    bus.handle(c.ChangeAccountState(admin, "ana", "unlock", "identity confirmed by phone"))
    assert bus.handle(c.SignIn(c.Context("ana"), "ana", PASSWORD)).username == "ana"
    assert [d.action for d in uow.audit_log if d.action.startswith("account.")] == [
        "account.locked",
        "account.unlocked",
    ]


@pytest.mark.requirement("URS-P11-11.100a-c", category="negative")
def test_deactivated_accounts_cannot_sign_in_and_stay_on_record() -> None:
    uow = FakeUnitOfWork()
    uow.records.add(Account("ana", "Ana", ["qc_analyst"], password_hash=hash_password(PASSWORD)))
    bus = bus_with(uow, [])
    bus.handle(c.ChangeAccountState(c.Context("admin"), "ana", "deactivate", "left the company"))
    with pytest.raises(Unauthenticated):
        bus.handle(c.SignIn(c.Context("ana"), "ana", PASSWORD))
    assert uow.records.get(Account, username="ana") is not None


@pytest.mark.parametrize(
    ("username", "action", "reason", "code"),
    [
        ("ana", "delete", "identity confirmed", "account.bad_action"),
        ("ana", "unlock", " ", "input.reason_required"),
        ("ana", "unlock", "0", "input.reason_too_short"),
        ("nobody", "unlock", "identity confirmed", "account.unknown"),
    ],
)
def test_bad_account_changes_are_refused(
    username: str, action: str, reason: str, code: str
) -> None:
    uow = FakeUnitOfWork()
    uow.records.add(Account("ana", "Ana", ["qc_analyst"]))
    with pytest.raises((InvalidInput, NotFound)) as refused:
        bus_with(uow, []).handle(c.ChangeAccountState(c.Context("admin"), username, action, reason))
    assert refused.value.reason == code
