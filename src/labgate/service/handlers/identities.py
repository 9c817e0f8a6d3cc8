"""The identity map: which labgate account a partner system means by a person's id, governed
(an administrator maps or withdraws each id with a reason, audited) and read when results come in
and are approved (compliance/identities.py says why)."""

from __future__ import annotations

from labgate.compliance.access import Account, Permission
from labgate.compliance.identities import PartnerIdentity
from labgate.domain.errors import Conflict, InvalidInput, NotFound
from labgate.domain.interface_commands import MapIdentity, UnmapIdentity
from labgate.domain.reasons import require_reason
from labgate.service.deps import Deps
from labgate.service.handlers.common import must_get, record
from labgate.service.unit_of_work import UnitOfWork


def people_of(uow: UnitOfWork, source: str) -> dict[str, str]:
    """`source`'s mapped ids -> the active labgate person accounts they are."""
    mapped = uow.records.find(PartnerIdentity, source=source, active=True)
    accounts = {a.username: a for a in uow.records.find(Account, kind="person", active=True)}
    return {m.external_id: m.account for m in mapped if m.account in accounts}


def require_reviewer(uow: UnitOfWork, account: str, shown: str) -> None:
    """A partner's reviewer must be someone labgate would let approve results."""
    found = uow.account(account)  # read only: no lock on the reviewer's account
    if found is None or Permission.APPROVE_RESULT not in found.permissions():
        raise Conflict(
            f"Reviewer {shown!r} is mapped to {account}, who may not approve results in labgate.",
            reason="identity.not_a_reviewer",
            field="reviewer",
        )


def map_identity(cmd: MapIdentity, uow: UnitOfWork, deps: Deps) -> str:
    """Map (or re-map) one partner id to a person account; returns "source/external_id"."""
    with uow:
        require_reason(cmd.reason, what="A change to the identity map")
        source = must_get(uow, Account, "source", "source", username=cmd.source)
        person = must_get(uow, Account, "account", "account", username=cmd.account)
        if source.kind != "system" or person.kind != "person" or not person.active:
            raise InvalidInput(
                f"{cmd.source} must be a system account and {cmd.account} an active person: a "
                "partner system's id names one of labgate's people.",
                reason="identity.wrong_kind",
                field="account" if source.kind == "system" else "source",
            )
        now = deps.clock.now()
        mapping = uow.records.get(PartnerIdentity, source=cmd.source, external_id=cmd.external_id)
        before = None if mapping is None else _shown(mapping)
        if mapping is None:
            mapping = PartnerIdentity(
                cmd.source, cmd.external_id, cmd.account, cmd.ctx.actor, now, cmd.reason
            )
            uow.records.add(mapping)
        else:
            mapping.account, mapping.active, mapping.reason = cmd.account, True, cmd.reason
            mapping.mapped_by, mapping.mapped_at = cmd.ctx.actor, now
        key = f"{cmd.source}/{cmd.external_id}"
        record(uow, cmd.ctx, now, "identity.mapped", ("identity", key, None),
               before=before, after=_shown(mapping), reason=cmd.reason)  # fmt: skip
        uow.commit()
        return key


def unmap_identity(cmd: UnmapIdentity, uow: UnitOfWork, deps: Deps) -> str:
    """Withdraw a mapping (kept, inactive): the id resolves to nobody from now on."""
    with uow:
        require_reason(cmd.reason, what="A change to the identity map")
        mapping = uow.records.get(PartnerIdentity, source=cmd.source, external_id=cmd.external_id)
        key = f"{cmd.source}/{cmd.external_id}"
        if mapping is None or not mapping.active:
            raise NotFound(f"No active mapping {key}.", reason="identity.unknown", field="id")
        before = _shown(mapping)
        mapping.active, mapping.reason = False, cmd.reason
        mapping.mapped_by, mapping.mapped_at = cmd.ctx.actor, deps.clock.now()
        record(uow, cmd.ctx, mapping.mapped_at, "identity.unmapped", ("identity", key, None),
               before=before, after=_shown(mapping), reason=cmd.reason)  # fmt: skip
        uow.commit()
        return key


def _shown(mapping: PartnerIdentity) -> dict[str, object]:
    return {"source": mapping.source, "external_id": mapping.external_id,
            "account": mapping.account, "active": mapping.active}  # fmt: skip
