"""The answers of change control: a request with its computed assessment, and the list."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from labgate.domain.change_control import ChangeKind, ChangeState
from labgate.entrypoints.api.wire import Answer, Code, Hash, UtcTime


class ChangeRequestItem(Answer):
    """A change request as listed."""

    code: Code
    kind: ChangeKind
    title: str
    state: ChangeState
    author: Code
    created_at: UtcTime
    effective_from: UtcTime | None
    approver: Code | None


class ChangeRequestView(ChangeRequestItem):
    """A change request whole: its proposal, reason, assessment and decision."""

    site: Code
    reason: str
    proposal: dict[str, Any]
    assessment: dict[str, Any] | None = Field(
        description="Computed from the store: open samples and batches, message types, "
        "streams and partner systems, and the validation pack's requirements that cover it."
    )
    assessment_hash: Hash | None
    assessed_at: UtcTime | None
    approved_at: UtcTime | None
    applied_at: UtcTime | None
    closed_by: Code | None
    closed_at: UtcTime | None
    close_reason: str | None


class ChangeRequestList(Answer):
    """A site's change requests, newest first."""

    items: list[ChangeRequestItem]


class NotApplied(Answer):
    """A due request the store refused at its date, and why."""

    code: Code
    reason: Code


class DueChangesApplied(Answer):
    """What one due pass put in force at a site: the requests, oldest date first."""

    applied: list[Code] = Field(
        description="The change requests that became effective in this pass (none: nothing "
        "approved had reached its date)."
    )
    not_applied: list[NotApplied] = Field(
        default_factory=list,
        description="The requests whose date had come but which the store refused as approved "
        "(their target moved since): closed as not_applied, with the refusal's reason code.",
    )
