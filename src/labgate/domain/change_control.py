"""Change control over what shapes interfaced data (guide §07, Annex 11 §10): every change to
the status map, the channel allow-list, master data, a specification's retirement or a method
version's deprecation is a request that is assessed, approved by QA with an e-signature (never
by its author) and then effective.

draft ── assess ─▶ assessed ── approve ─▶ approved ── effective_from reached ─▶ effective
  │ (assess again)    │    └── reject ─▶ rejected                     effective ─▶ retired
  └── withdraw ─▶ withdrawn ◀── withdraw ┘                                    └─▶ superseded
                       approved ── at its date, refused by the store ─▶ not_applied
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from labgate.domain.change_masterdata import check_masterdata
from labgate.domain.channel_allow_list import check_channels
from labgate.domain.errors import InvalidInput, SegregationOfDuties
from labgate.domain.lifecycle import ResultStatus, TransitionTable
from labgate.domain.reasons import require_reason
from labgate.domain.status_map import MesStatus, Outcome, StatusMap, StatusRule


class ChangeKind(StrEnum):
    """What a change request changes."""

    STATUS_MAP = "status_map"
    SPEC_RETIREMENT = "spec_retirement"
    METHOD_DEPRECATION = "method_deprecation"
    CHANNEL_ALLOW_LIST = "channel_allow_list"
    MASTERDATA = "masterdata"


class ChangeState(StrEnum):
    """Where a change request stands."""

    DRAFT = "draft"
    ASSESSED = "assessed"
    APPROVED = "approved"
    EFFECTIVE = "effective"
    RETIRED = "retired"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"
    # Approved, but at its date the store no longer took it as approved (its target moved
    # meanwhile): nothing of it is in force; QA raises a new request.
    NOT_APPLIED = "not_applied"


C = ChangeState
CHANGE_LIFECYCLE = TransitionTable(
    "change request",
    {
        # An assessed request may be assessed again: the store moved since, the answer with it.
        C.DRAFT: frozenset({C.ASSESSED, C.WITHDRAWN}),
        C.ASSESSED: frozenset({C.ASSESSED, C.APPROVED, C.REJECTED, C.WITHDRAWN}),
        C.APPROVED: frozenset({C.EFFECTIVE, C.NOT_APPLIED}),
        C.EFFECTIVE: frozenset({C.RETIRED, C.SUPERSEDED}),
        C.RETIRED: frozenset(),
        C.SUPERSEDED: frozenset(),
        C.WITHDRAWN: frozenset(),
        C.REJECTED: frozenset(),
        C.NOT_APPLIED: frozenset(),
    },
)
OPEN_STATES = frozenset({C.DRAFT, C.ASSESSED, C.APPROVED})


@dataclass
class ChangeRequest:
    """A proposed change to what shapes interfaced data, with its assessment and decision."""

    site: str
    code: str
    kind: ChangeKind
    title: str
    reason: str
    proposal: dict[str, Any]
    author: str
    created_at: datetime
    # None: in force from its approval.
    effective_from: datetime | None = None
    state: ChangeState = ChangeState.DRAFT
    assessment: dict[str, Any] | None = None
    assessment_hash: str | None = None
    assessed_at: datetime | None = None
    approver: str | None = None
    approved_at: datetime | None = None
    applied_at: datetime | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None

    def assess(self, assessment: dict[str, Any], digest: str, at: datetime) -> None:
        """Keep the computed impact and its hash (what the approval will sign)."""
        self._move(C.ASSESSED)
        self.assessment, self.assessment_hash, self.assessed_at = assessment, digest, at

    def approve(self, approver: str, at: datetime) -> None:
        """QA's independent approval: never by the request's author."""
        if approver == self.author:
            raise SegregationOfDuties(
                f"{approver} wrote change request {self.code} and cannot also approve it; "
                "another QA reviewer must.",
                reason="change.approver_is_author",
                field="signature.username",
            )
        if self.effective_from is not None and self.effective_from < at:
            raise InvalidInput(
                f"Change request {self.code} would be effective from "
                f"{self.effective_from.isoformat()}, before its approval; nothing is effective "
                "without approval. Ask its author for a new request with a later date.",
                reason="change.effective_before_approval",
                field="effective_from",
            )
        self._move(C.APPROVED)
        self.approver, self.approved_at = approver, at
        if self.effective_from is None:
            self.effective_from = at

    def is_due(self, now: datetime) -> bool:
        """Approved and its date reached: to be applied now."""
        return (
            self.state is C.APPROVED
            and self.effective_from is not None
            and self.effective_from <= now
        )

    def make_effective(self, at: datetime) -> None:
        """Applied to the store at `at`."""
        self._move(C.EFFECTIVE)
        self.applied_at = at

    def close(self, target: ChangeState, by: str, at: datetime, reason: str) -> None:
        """Reject, withdraw, retire or supersede, with a reason; nothing is deleted."""
        text = require_reason(reason, what=f"Closing change request {self.code}")
        self._move(target)
        self.closed_by, self.closed_at, self.close_reason = by, at, text

    def _move(self, target: ChangeState) -> None:
        CHANGE_LIFECYCLE.check(self.code, self.state, target)
        self.state = target


def content(cr: ChangeRequest) -> dict[str, Any]:
    """What an approval signature binds: the request's identity, author, change and the hash
    of its assessment."""
    return {
        "site": cr.site, "code": cr.code, "kind": cr.kind.value, "title": cr.title,
        "reason": cr.reason, "author": cr.author, "proposal": cr.proposal,
        "effective_from": None if cr.effective_from is None else cr.effective_from.isoformat(),
        "assessment_hash": cr.assessment_hash,
    }  # fmt: skip


# --- proposals, checked per kind ---------------------------------------------------------------


def check_proposal(kind: str, proposal: object) -> tuple[ChangeKind, dict[str, Any]]:
    """The kind and its proposal, normalised; refused naming the field and the rule."""
    try:
        found = ChangeKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in ChangeKind)
        raise InvalidInput(
            f"Unknown change kind {kind!r}; one of {names}.",
            reason="change.unknown_kind",
            field="kind",
        ) from None
    if not isinstance(proposal, Mapping):
        raise _bad("proposal", "must be an object")
    return found, _CHECKS[found](proposal)


def status_rules(proposal: Mapping[str, Any], version: int = 0) -> StatusMap:
    """The proposed status map (already checked when the request was made), as `version`."""
    return StatusMap(
        (
            StatusRule(
                ResultStatus(r["lims_status"]), Outcome(r["outcome"]), MesStatus(r["mes_status"])
            )
            for r in proposal["rules"]
        ),
        version,
    )


def _status_map(p: Mapping[str, Any]) -> dict[str, Any]:
    rules = p.get("rules")
    if not isinstance(rules, list) or not rules:
        raise _bad("proposal.rules", "must be a non-empty list of status rules")
    checked = []
    for i, rule in enumerate(rules):
        where = f"proposal.rules[{i}]"
        if not isinstance(rule, Mapping):
            raise _bad(where, "must be an object")
        checked.append(
            {
                "lims_status": _choice(
                    ResultStatus, rule.get("lims_status"), f"{where}.lims_status"
                ),
                "outcome": _choice(Outcome, rule.get("outcome"), f"{where}.outcome"),
                "mes_status": _choice(MesStatus, rule.get("mes_status"), f"{where}.mes_status"),
            }
        )
    out = {"rules": checked}
    status_rules(out)  # the map's own rules: complete, no decision on unreviewed data
    return out


def _spec_retirement(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "specification": _text(p.get("specification"), "proposal.specification"),
        "version": _int(p.get("version"), "proposal.version"),
    }


def _method_deprecation(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "method": _text(p.get("method"), "proposal.method"),
        "version": _text(p.get("version"), "proposal.version"),
    }


_CHECKS: dict[ChangeKind, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    ChangeKind.STATUS_MAP: _status_map,
    ChangeKind.SPEC_RETIREMENT: _spec_retirement,
    ChangeKind.METHOD_DEPRECATION: _method_deprecation,
    ChangeKind.CHANNEL_ALLOW_LIST: check_channels,
    ChangeKind.MASTERDATA: check_masterdata,
}


def _bad(field_name: str, rule: str) -> InvalidInput:
    return InvalidInput(
        f"The change's {field_name} {rule}.", reason="change.invalid_proposal", field=field_name
    )


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, "must be a non-empty text")
    return value.strip()


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(name, "must be a whole number from 1")
    return value


def _choice(enum: type[StrEnum], value: object, name: str) -> str:
    allowed = [e.value for e in enum]
    if value not in allowed:
        raise _bad(name, f"must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def check_date(value: datetime | None) -> datetime | None:
    """The date a change takes effect from (None: at approval), with its UTC offset."""
    if value is not None and value.tzinfo is None:
        raise InvalidInput(
            "effective_from needs its UTC offset (2027-01-01T00:00:00Z), or none at all to "
            "take effect on approval.",
            reason="change.effective_from_naive",
            field="effective_from",
        )
    return value


@dataclass
class StatusMapVersion:
    """A status map approved through a change request, in force from its `effective_from`
    (written at approval, so the live path switches at that instant, not at the next pass)."""

    version: int
    effective_from: datetime
    change_request: str
    site: str
    rules: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class StatusMapSchedule:
    """Every status map the hub knows with the date each is in force from: the one installed
    with it, then those approved through change requests."""

    installed: StatusMap
    # (effective_from, version, map); a later date wins, at one date the higher version.
    dated: tuple[tuple[datetime, int, StatusMap], ...] = ()

    def in_force(self, at: datetime) -> StatusMap:
        """The map in force at `at`: the latest whose date has come, else the installed one."""
        reached = [entry for entry in self.dated if entry[0] <= at]
        return max(reached, key=lambda e: (e[0], e[1]))[2] if reached else self.installed
