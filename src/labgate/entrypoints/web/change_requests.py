"""Change control in the console: a site's change requests (filtered by state) with the form
that raises one, and a request's page: its proposal in readable form (a status map as the rules
it would put in force, what changes against the map in force highlighted), its computed
assessment, its history, and the forms of its next steps (change_steps.py sends them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from labgate.adapters.store.change_view import (
    change_request,
    change_requests,
    request_history,
    rules_in_force,
)
from labgate.adapters.store.document_facts import reader
from labgate.compliance.access import Permission
from labgate.domain.change_control import (
    OPEN_STATES,
    ChangeKind,
    ChangeRequest,
    ChangeState,
    status_rules,
)
from labgate.domain.lifecycle import ResultStatus
from labgate.domain.status_map import StatusMap
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.change_allow_list import channel_effects, raise_choices
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.render import page, prefix

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]
KIND_LABELS = {
    ChangeKind.STATUS_MAP: "Status map",
    ChangeKind.SPEC_RETIREMENT: "Specification retirement",
    ChangeKind.METHOD_DEPRECATION: "Method deprecation",
    ChangeKind.CHANNEL_ALLOW_LIST: "Channel allow-list",
    ChangeKind.MASTERDATA: "Master data",
}
OPEN_LABEL = "open"  # the filter's value for draft, assessed and approved together
JUST_BEFORE = timedelta(microseconds=1)


def list_values(
    request: Request, who: Visitor, site: str, state: str | None = None
) -> dict[str, Any]:
    """The list page's values: the requests (in `state`), and what the raise form needs."""
    shown = site_view(request, site)
    wanted = state if state in {s.value for s in ChangeState} else None
    with hub_of(request).sessions() as session:
        found = change_requests(session, site, None if wanted is None else ChangeState(wanted))
        if state == OPEN_LABEL:
            found = [cr for cr in found if cr.state in OPEN_STATES]
        people = reader(session, site, [cr.author for cr in found])
        now = hub_of(request).bus.deps.clock.now()
        in_force = rules_in_force(session, now)
        allow = raise_choices(request, session, now)
    return {
        **allow,
        **frame(request, who, shown, "changes"),
        "rows": found,
        "people": people,
        "kinds": KIND_LABELS,
        "states": [OPEN_LABEL, *(s.value for s in ChangeState)],
        "asked": state or "",
        "here": f"{prefix(request)}/sites/{site}/change-requests",
        "in_force": in_force,
        "mes_statuses": ("Pending", "Accepted", "Rejected"),
        "may_raise": who.may(Permission.MANAGE_MASTERDATA),
        "attempt": {},
        "refused": None,
    }


@router.get("/sites/{site}/change-requests", name="change_requests")
def list_page(request: Request, site: str, who: Reading, state: str | None = None) -> Response:
    """A site's change requests, newest first."""
    return page(request, "change_requests.html", list_values(request, who, site, state))


def request_values(request: Request, who: Visitor, site: str, code: str) -> dict[str, Any]:
    """The request page's values; NotFound (the 404 page) for an unknown code."""
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        cr = change_request(session, site, code)
        history = request_history(session, site, code)
        now = hub_of(request).bus.deps.clock.now()
        # Compared with the map in force just before its date (now, for one without a date).
        before = rules_in_force(session, cr.effective_from - JUST_BEFORE
                                if cr.effective_from else now)  # fmt: skip
        people = reader(session, site, [cr.author, cr.approver, cr.closed_by])
        channels = channel_effects(request, session, cr)
    base = f"{prefix(request)}/sites/{site}/change-requests"
    return {
        **channels,
        **frame(request, who, shown, "changes"),
        "cr": cr,
        "people": people,
        "kinds": KIND_LABELS,
        "history": history,
        "effects": status_effects(before, cr) if cr.kind is ChangeKind.STATUS_MAP else [],
        "here": f"{base}/{code}",
        "list_link": base,
        "is_author": who.account.username == cr.author,
        "may_assess": who.may(Permission.MANAGE_MASTERDATA)
        and cr.state in (ChangeState.DRAFT, ChangeState.ASSESSED),
        "may_approve": who.may(Permission.APPROVE_SPEC) and cr.state is ChangeState.ASSESSED,
        "may_withdraw": who.may(Permission.MANAGE_MASTERDATA)
        and cr.state in (ChangeState.DRAFT, ChangeState.ASSESSED),
        "refused": None,
        "done": None,
        "attempt": {},
    }


@router.get("/sites/{site}/change-requests/{code}", name="change_request")
def request_page(
    request: Request, site: str, code: str, who: Reading, done: str | None = None
) -> Response:
    """One request: proposal, assessment, history and its next steps."""
    values = request_values(request, who, site, code)
    values["done"] = done if done in DONE else None
    return page(request, "change_request.html", values)


DONE = {"raised": "raised", "assessed": "assessed", "approved": "approved with your signature",
        "rejected": "rejected", "withdrawn": "withdrawn"}  # fmt: skip


def status_effects(before: list[dict[str, str]], cr: ChangeRequest) -> list[dict[str, Any]]:
    """What the MES is told for each LIMS status and evaluation, under the map in force and
    under the proposal; `changed` marks the rows that differ."""
    old, new = _as_map(before), status_rules(cr.proposal)
    rows = []
    for status in ResultStatus:
        for conforms, label in ((True, "conforms"), (False, "not conforming")):
            was, becomes = old.mes_status(status, conforms), new.mes_status(status, conforms)
            rows.append({"lims_status": status.value, "evaluation": label, "in_force": was.value,
                         "proposed": becomes.value, "changed": was != becomes})  # fmt: skip
    return rows


def _as_map(rules: list[dict[str, str]]) -> StatusMap:
    return status_rules({"rules": rules})
