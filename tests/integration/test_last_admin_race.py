"""Two administrators deactivating each other at the same moment: the database makes them take
turns (PostgreSQL: the active accounts are locked; SQLite: one writer), so one is refused as the
last administrator instead of both going. SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
import threading

from labgate.bootstrap import Hub
from labgate.compliance.access import Account
from labgate.domain.commands import ChangeAccountState, Context, CreateAccount
from labgate.domain.errors import LabgateError

WHY = "ticket IAM-3: leaver process"


def deactivate_both_at_once(hub: Hub) -> list[str]:
    """Each admin deactivates the other, started together; what each got."""
    start, outcomes = threading.Barrier(2), ["", ""]

    def run(n: int, actor: str, target: str) -> None:
        start.wait()
        try:
            hub.bus.handle(ChangeAccountState(Context(actor), target, "deactivate", WHY))
            outcomes[n] = "done"
        except LabgateError as error:
            outcomes[n] = error.reason

    threads = [threading.Thread(target=run, args=(0, "root1", "root2")),
               threading.Thread(target=run, args=(1, "root2", "root1"))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def test_one_of_two_administrators_always_stays(hub: Hub) -> None:
    setup = Context("cli:setup", "system")
    for name in ("root1", "root2"):
        password = secrets.token_urlsafe(16)
        hub.bus.handle(CreateAccount(setup, name, name, ("integration_admin",), password))
    for _ in range(8):
        assert deactivate_both_at_once(hub) == ["account.last_admin", "done"]
        with hub.uow_factory() as uow:
            gone = [a.username for a in uow.records.find(Account, active=False)]
        assert len(gone) == 1
        hub.bus.handle(ChangeAccountState(setup, gone[0], "reactivate", WHY))
