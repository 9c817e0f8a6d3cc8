"""Change control of the channel allow-list: which inbound message types (schemas named with
their version) each channel carries. The proposal is the whole allow-list; its impact is computed
against the allow-list in force just before its date (the installed LABGATE_CHANNEL_SCHEMAS
until a change request put a version in force); the approval writes the version with its date,
so every process's inbox switches at that instant (handlers/change_allow_list.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from labgate.compliance.canonical import content_hash
from labgate.domain.change_control import ChangeRequest
from labgate.domain.channel_allow_list import (
    AllowList,
    as_allow_list,
    differences,
    unknown_schemas,
)
from labgate.service.b2mml_payload import B2MML_SCHEMA
from labgate.service.messages import INBOUND
from labgate.service.packs import PACK_SCHEMA
from labgate.service.unit_of_work import UnitOfWork
from labgate.service.validation.requirements import COVERING_CHANGES, REQUIREMENTS

# Every message type labgate takes in (the schema catalogue's inbound ones): what a channel
# may be allowed to carry.
INBOUND_SCHEMAS = tuple(sorted({*INBOUND, PACK_SCHEMA, B2MML_SCHEMA}))
# A request without a date is in force from its approval: after every version approved so far.
_LAST = datetime.max.replace(tzinfo=UTC)
NO_RECORDS = (
    "An allow-list decides which channel a message may arrive on, not what happens to a "
    "sample or batch: no open sample or batch is tied to a channel. The streams below are the "
    "partners that must move the removed types to a channel that still carries them."
)


def check_known(proposal: dict[str, Any]) -> None:
    """Every schema named is one labgate takes in (refused naming where it stands)."""
    unknown_schemas(proposal, INBOUND_SCHEMAS)


def in_force_before(uow: UnitOfWork, when: datetime | None) -> tuple[int | None, AllowList]:
    """The allow-list a request would replace: in force just before its date (for one without
    a date, the latest approved), with its version (None: the installed setting)."""
    at = _LAST if when is None else when - timedelta(microseconds=1)
    found = uow.channel_allow_list(at)
    return (None, uow.installed_channels) if found is None else found


def assess_allow_list(uow: UnitOfWork, cr: ChangeRequest) -> tuple[dict[str, Any], str]:
    """The channels that change, the types added and removed, the partner streams that have
    sent a removed type on its channel, and the requirements whose tests cover it."""
    version, before = in_force_before(uow, cr.effective_from)
    rows = differences(before, as_allow_list(cr.proposal["channels"]), INBOUND_SCHEMAS)
    removed = {(row["channel"], schema) for row in rows for schema in row["removed"]}
    senders = uow.channel_senders(removed)
    covering = COVERING_CHANGES[cr.kind.value]
    assessment: dict[str, Any] = {
        "scope": "hub",
        "compared_with": "installed setting" if version is None else f"version {version}",
        "channels": rows,
        "open_samples": [],
        "open_batches": [],
        "open_records_note": NO_RECORDS,
        "message_types": {
            "inbound": sorted({s for row in rows for s in (*row["added"], *row["removed"])}),
            "outbound": [],  # a channel's allow-list governs what labgate takes in only
        },
        "streams": [
            {"channel": ch, "source": so, "stream": st, "schema": sc} for ch, so, st, sc in senders
        ],
        "partner_systems": sorted({sender[1] for sender in senders}),
        "requirements": [
            {"id": r.id, "title": r.title, "implemented_by": list(r.implemented_by)}
            for r in REQUIREMENTS
            if r.id in covering
        ],
    }
    return assessment, content_hash(assessment)
