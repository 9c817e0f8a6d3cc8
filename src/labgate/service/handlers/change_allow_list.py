"""Change control's writes for the channel allow-list: the approved version written with its
date at approval, and put in force (superseding the request before it) once its date came."""

from __future__ import annotations

from datetime import datetime

from labgate.compliance.canonical import to_jsonable
from labgate.domain.change_control import ChangeKind, ChangeRequest, ChangeState
from labgate.domain.channel_allow_list import ChannelAllowListVersion
from labgate.domain.commands import Context
from labgate.service.handlers.common import record
from labgate.service.unit_of_work import UnitOfWork


def approve_allow_list(uow: UnitOfWork, ctx: Context, now: datetime, cr: ChangeRequest) -> None:
    """The approved allow-list written at once with its date: messages received from that
    instant on are checked against it (the write moves its config version: every process
    reads the versions again and picks by its own clock)."""
    assert cr.effective_from is not None  # set by the approval
    versions = uow.records.find(ChannelAllowListVersion)
    number = max((v.version for v in versions), default=0) + 1
    channels = {ch: list(schemas) for ch, schemas in cr.proposal["channels"].items()}
    new = ChannelAllowListVersion(number, cr.effective_from, cr.code, cr.site, channels)
    uow.records.add(new)
    record(uow, ctx, now, "channel_allow_list.version_approved",
           ("channel_allow_list", str(number), None), after=new,
           reason=f"change request {cr.code}: {cr.title}")  # fmt: skip


def put_allow_list(
    uow: UnitOfWork, ctx: Context, now: datetime, cr: ChangeRequest, at: datetime, why: str
) -> None:
    """The request's version is in force from its date; the request that put the previous one
    in force is superseded."""
    [version] = uow.records.find(ChannelAllowListVersion, site=cr.site, change_request=cr.code)
    record(uow, ctx, now, "channel_allow_list.version_in_force",
           ("channel_allow_list", str(version.version), None), after={"effective_from": at},
           reason=why)  # fmt: skip
    effective = uow.records.find(
        ChangeRequest, kind=ChangeKind.CHANNEL_ALLOW_LIST, state=ChangeState.EFFECTIVE
    )
    for old in effective:
        before = {"state": old.state.value}
        text = f"superseded by {cr.site}/{cr.code}"
        old.close(ChangeState.SUPERSEDED, ctx.actor, now, text)
        record(uow, ctx, now, "change_request.superseded", ("change_request", old.code, old.site),
               before=before, after=to_jsonable({"state": old.state, "closed_by": old.closed_by,
                                                 "closed_at": old.closed_at}),
               reason=text)  # fmt: skip
