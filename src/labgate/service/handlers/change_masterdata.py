"""A master-data change request put in force: its document written through the import's own
write path (one audit entry per record, before and after), with the request as its reason."""

from __future__ import annotations

from datetime import datetime

from labgate.domain.change_control import ChangeRequest
from labgate.domain.commands import Context
from labgate.service.change_masterdata import plan_change
from labgate.service.handlers.masterdata import write_change
from labgate.service.unit_of_work import UnitOfWork


def apply_masterdata(
    uow: UnitOfWork, ctx: Context, now: datetime, cr: ChangeRequest, why: str
) -> None:
    """Plan the document against the store as it is now (refused, with nothing written, if it
    no longer applies) and write every change."""
    for change in plan_change(uow, cr.site, cr.proposal):
        write_change(uow, ctx, now, change, why)
