"""`labgate change`: raise a change request, read them, have one's impact computed again, approve
one with an e-signature, and put in force the approved ones whose date has come. Raising and
approving are a person's acts: `--as USERNAME` names the labgate account, whose password is
prompted for (a sign-in for raising; the e-signature "approved" for approving), so the author
and the approver are accounts, never the operating-system user.

Exit 2: no such request or site (the reason code is printed); `apply-due` exits 1 when a due
request was refused by the store at its date and closed as not applied."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from labgate.entrypoints.cli.main import cli_context, fail, open_hub, sign_in_as, stdout

if TYPE_CHECKING:  # the store and Rich are imported when a command runs (main.py says why)
    from sqlalchemy.orm import Session

    from labgate.bootstrap import Hub
    from labgate.domain.change_control import ChangeRequest

EXIT_UNKNOWN = 2
EXIT_NOT_APPLIED = 1  # the pass ran; a due request was refused by the store and closed

change_app = typer.Typer(
    help="Change control: change requests and their due pass.", no_args_is_help=True
)
SiteOption = Annotated[
    str | None,
    typer.Option("--site", help="The request's site (default: the only site there is)."),
]
STATES = (
    "draft, assessed, approved, effective, retired, superseded, withdrawn, rejected, not_applied"
)


@change_app.command("list")
def list_requests(
    site: SiteOption = None,
    state: Annotated[str | None, typer.Option("--state", help=f"One of {STATES}.")] = None,
) -> None:
    """A site's change requests, newest first."""
    from rich.table import Table

    from labgate.adapters.store.change_view import change_requests
    from labgate.domain.change_control import ChangeState

    wanted = _state(state)
    with open_hub() as hub, hub.sessions() as session:
        where = _site(hub, site)
        found = change_requests(session, where, None if wanted is None else ChangeState(wanted))
    table = Table(title=f"change requests of site {where}")
    for column in ("code", "state", "kind"):
        table.add_column(column, no_wrap=True)  # what a reader searches for and types next
    for column in ("title", "author", "created (UTC)", "effective from (UTC)"):
        table.add_column(column, overflow="fold")
    for cr in found:
        table.add_row(cr.code, cr.state.value, cr.kind.value, cr.title, cr.author,
                      _minute(cr.created_at), _minute(cr.effective_from))  # fmt: skip
    stdout().print(table)
    stdout().print(f"{len(found)} request(s)")


@change_app.command("show")
def show(
    code: Annotated[str, typer.Argument(help="The request, e.g. CR-000001.")],
    site: SiteOption = None,
) -> None:
    """The request, its proposal, its computed assessment and its history."""
    from labgate.adapters.store.change_view import request_history

    with open_hub() as hub, hub.sessions() as session:
        where = _site(hub, site)
        cr = _load(session, where, code)
        _print_request(cr)
        _print_assessment(cr.assessment, cr.assessment_hash)
        _print_history(request_history(session, where, code))


@change_app.command("assess")
def assess(
    code: Annotated[str, typer.Argument(help="The request, e.g. CR-000001.")],
    site: SiteOption = None,
) -> None:
    """Compute the request's impact from the store now and keep it (audited)."""
    from labgate.domain.change_commands import AssessChangeRequest
    from labgate.domain.errors import LabgateError

    with open_hub() as hub:
        where = _site(hub, site)
        try:
            digest = hub.bus.handle(AssessChangeRequest(cli_context(), where, code))
        except LabgateError as error:
            raise fail(error, EXIT_UNKNOWN if error.reason.endswith(".unknown") else 1) from None
        with hub.sessions() as session:
            _print_assessment(_load(session, where, code).assessment, digest)


AsOption = Annotated[
    str,
    typer.Option("--as", help="Your labgate username; your password is prompted for."),
]


@change_app.command("raise")
def raise_request(
    kind: Annotated[
        str,
        typer.Option(
            help="status_map, spec_retirement, method_deprecation, "
            "channel_allow_list or masterdata."
        ),
    ],
    proposal: Annotated[
        Path,
        typer.Option(help="The proposal as a JSON or YAML file (the API's `proposal` object)."),
    ],
    title: Annotated[str, typer.Option(help="What the change is, in a line.")],
    reason: Annotated[str, typer.Option(help="Why it is needed (change control).")],
    as_user: AsOption,
    effective_from: Annotated[
        str | None,
        typer.Option(
            help="ISO time with its UTC offset (2027-01-01T00:00:00Z); none: on approval."
        ),
    ] = None,
    site: SiteOption = None,
) -> None:
    """Raise a draft change request as the account you sign in as (it needs the master-data
    permission, as on the API); assess it next, then QA approves it."""
    from labgate.compliance.access import Permission
    from labgate.domain.change_commands import RaiseChangeRequest
    from labgate.domain.errors import LabgateError

    document, when = _proposal(proposal), _when(effective_from)
    password = typer.prompt("Password", hide_input=True)
    with open_hub() as hub:
        where = _site(hub, site)
        try:
            person = sign_in_as(hub, as_user, password, Permission.MANAGE_MASTERDATA)
            code = hub.bus.handle(RaiseChangeRequest(person, where, kind, title, reason, document,
                                                     when))  # fmt: skip
        except LabgateError as error:
            raise fail(error) from None
    stdout().print(
        f"raised {where}/{code} (draft) by {as_user}; next: labgate change assess {code}"
    )


@change_app.command("approve")
def approve(
    code: Annotated[str, typer.Argument(help="The request, e.g. CR-000001.")],
    as_user: AsOption,
    site: SiteOption = None,
) -> None:
    """Approve an assessed request with your e-signature (meaning "approved"): QA only, never
    its author; the assessment is computed again and must not have moved. In force at once if
    its date has come (the ICD's next version is generated), else at its date."""
    from labgate.domain.change_commands import ApproveChangeRequest
    from labgate.domain.commands import Context, SignatureInput
    from labgate.domain.errors import LabgateError
    from labgate.entrypoints.api.routes.icd_config import refresh_icd

    password = typer.prompt('Password (e-signature, meaning "approved")', hide_input=True)
    signature = SignatureInput(as_user, password, "approved")
    with open_hub() as hub:
        where = _site(hub, site)
        person = Context(as_user, "person")
        try:
            state = hub.bus.handle(ApproveChangeRequest(person, where, code, signature))
        except LabgateError as error:
            raise fail(error, EXIT_UNKNOWN if error.reason.endswith(".unknown") else 1) from None
        made = refresh_icd(hub, person, [where]) if state == "effective" else {}
    stdout().print(f"{where}/{code} approved by {as_user}: {state}")
    for place, version in sorted(made.items()):
        stdout().print(f"ICD {place}: version {version}")


def _proposal(path: Path) -> dict[str, Any]:
    """The proposal file's object (YAML reads JSON too); exit 2 naming the file otherwise."""
    import yaml

    try:
        found = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise fail(ValueError(f"--proposal {path}: cannot be read as JSON or YAML: {error}"),
                   EXIT_UNKNOWN) from None  # fmt: skip
    if not isinstance(found, dict):
        raise fail(ValueError(f"--proposal {path}: must hold an object (the API's proposal)."),
                   EXIT_UNKNOWN)  # fmt: skip
    return found


def _when(text: str | None) -> datetime | None:
    """--effective-from as a time (its UTC offset is the handler's rule)."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        needed = f"--effective-from {text!r}: an ISO time such as 2027-01-01T00:00:00Z is needed."
        raise fail(ValueError(needed), EXIT_UNKNOWN) from None


@change_app.command("apply-due")
def apply_due(
    site: Annotated[
        str | None, typer.Option("--site", help="Only this site's (default: every site).")
    ] = None,
) -> None:
    """Put in force every approved request whose date has come (the relay does this every
    LABGATE_CHANGE_APPLY_SECONDS, entrypoints/cli/due_changes.py; this is for cron or an
    operator)."""
    from labgate.domain.change_commands import ApplyDueChanges
    from labgate.entrypoints.api.routes.icd_config import refresh_icd

    with open_hub() as hub:
        done = hub.bus.handle(ApplyDueChanges(cli_context(), site))
        made = refresh_icd(hub, cli_context(), [one.partition("/")[0] for one in done.applied])
    for where, version in sorted(made.items()):
        stdout().print(f"ICD {where}: version {version}")
    for one in done.applied:
        stdout().print(f"in force: {one}")
    for one, why in done.not_applied:
        stdout().print(f"not applied: {one} ({why}; `labgate change show` says why)")
    stdout().print(f"applied {len(done.applied)} change request(s)")
    if done.not_applied:
        raise typer.Exit(EXIT_NOT_APPLIED)


def _site(hub: Hub, site: str | None) -> str:
    from labgate.adapters.store.replay_view import sole_site
    from labgate.domain.errors import LabgateError

    try:
        return site or sole_site(hub.sessions)
    except LabgateError as error:
        raise fail(error, EXIT_UNKNOWN) from None


def _state(state: str | None) -> str | None:
    from labgate.domain.change_control import ChangeState
    from labgate.domain.errors import InvalidInput

    if state is None or state in {s.value for s in ChangeState}:
        return state
    error = InvalidInput(f"Unknown state {state!r}; one of {STATES}.",
                         reason="change.unknown_state", field="state")  # fmt: skip
    raise fail(error, EXIT_UNKNOWN)


def _load(session: Session, site: str, code: str) -> ChangeRequest:
    from labgate.adapters.store.change_view import change_request
    from labgate.domain.errors import LabgateError

    try:
        return change_request(session, site, code)
    except LabgateError as error:
        raise fail(error, EXIT_UNKNOWN) from None


def _print_request(cr: ChangeRequest) -> None:
    out = stdout()
    out.print(f"{cr.code} ({cr.site}) {cr.state.value}: {cr.title}")
    lines = [
        ("kind", cr.kind.value), ("author", cr.author), ("created", _at(cr.created_at)),
        ("reason", cr.reason), ("effective from", _at(cr.effective_from) or "on approval"),
        ("approver", cr.approver or ""), ("approved", _at(cr.approved_at)),
        ("in force since", _at(cr.applied_at)), ("closed by", cr.closed_by or ""),
        ("close reason", cr.close_reason or ""),
    ]  # fmt: skip
    for name, value in lines:
        if value:
            out.print(f"  {name}: {value}")
    out.print("proposal:")
    if "rules" in cr.proposal:
        for rule in cr.proposal["rules"]:
            out.print(f"  {rule['lims_status']} + {rule['outcome']} -> {rule['mes_status']}")
    else:
        for name, value in cr.proposal.items():
            out.print(f"  {name}: {value}")


def _print_assessment(assessment: dict[str, Any] | None, digest: str | None) -> None:
    out = stdout()
    if assessment is None:
        out.print("assessment: none yet (run `labgate change assess CODE`)")
        return
    out.print(f"assessment ({assessment['scope']}), sha256 {digest}:")
    types = assessment["message_types"]
    for name, values in (
        ("open samples", assessment["open_samples"]),
        ("open batches", assessment["open_batches"]),
        ("inbound message types", types["inbound"]),
        ("outbound message types", types["outbound"]),
        ("partner systems", assessment["partner_systems"]),
        ("requirements", [r["id"] for r in assessment["requirements"]]),
    ):
        out.print(f"  {name} ({len(values)}): {', '.join(values) or '-'}")
    _print_masterdata(assessment)


def _print_masterdata(assessment: dict[str, Any]) -> None:
    """A master-data request's field changes (before → after) and what it retires."""
    out = stdout()
    planned = assessment.get("planned_changes")
    if planned is not None:
        out.print(f"  planned changes ({len(planned)}):")
    for change in planned or []:
        out.print(f"    {change['outcome']} {change['record_type']} {change['record_id']}",
                  markup=False)  # fmt: skip
        for f in change["fields"]:
            out.print(f"      {f['name']}: {json.dumps(f['before'])} → {json.dumps(f['after'])}",
                      markup=False)  # fmt: skip
    retired = assessment.get("retired") or []
    if retired:
        out.print(f"  retires ({len(retired)}), from {retired[0]['retired_from'] or 'approval'}:")
    for r in retired:
        key = " ".join(f"{k}={v}" for k, v in r["key"].items() if v is not None)
        keeps = ", ".join(r["open_samples"]) or "none"
        out.print(f"    {r['record']} {key}; open samples bound (they keep it): {keeps}",
                  markup=False)  # fmt: skip


def _print_history(history: list[dict[str, Any]]) -> None:
    out = stdout()
    out.print("history:")
    for entry in history:  # one line each: an action's name is what a reader searches for
        who = entry.get("actor_name") or entry["actor"]
        why = f" ({entry['reason']})" if entry.get("reason") else ""
        out.print(f"  #{entry['seq']} {entry['at_local']} {entry['action']} by {who}{why}")


def _minute(value: datetime | None) -> str:
    """A UTC time to the minute, for the list; empty for none."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _at(value: object) -> str:
    """A time as ISO text (UTC), or empty."""
    if value is None:
        return ""
    return str(value.isoformat() if hasattr(value, "isoformat") else json.dumps(value))
