"""Accounts, for administrators: people and system accounts as GET /api/v1/accounts lists them,
and the API's administration through its very bus commands (create, roles, unlock, deactivate,
reactivate, a temporary password) plus a new API key for a system account. The rules (role
policy, last administrator, reasons) are the handlers'; a refusal is shown with its code.
A password or key the server makes is shown once, in the answer to the form, never again."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.adapters.store.account_view import account_item, accounts_query, last_sign_in
from labgate.adapters.store.document_facts import Reader, reader
from labgate.compliance.access import SYSTEM_ROLES, Account, Permission, Role
from labgate.compliance.passwords import new_api_key
from labgate.domain.account_commands import IssueApiKey, SetPassword, SetRoles
from labgate.domain.commands import ChangeAccountState, Command, CreateAccount
from labgate.domain.errors import InvalidInput, LabgateError, NotFound
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web import keyset
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page, prefix

router = APIRouter()
Administering = Annotated[Visitor, Depends(allowed(Permission.MANAGE_USERS))]
PAGE = 50
STATES = ("unlock", "deactivate", "reactivate")
PERSON_ROLES = tuple(r.value for r in Role if r not in SYSTEM_ROLES)
SYSTEM_ROLE_NAMES = tuple(r.value for r in Role if r in SYSTEM_ROLES)


def _listed(request: Request, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of accounts in the API's order (by user id), each with its last sign-in."""
    after = keyset.decode("accounts", cursor)
    hub = hub_of(request)
    now = hub.bus.deps.clock.now()
    with hub.sessions() as session:
        query = accounts_query(after and after[0]).limit(PAGE + 1)
        found: list[Account] = list(session.scalars(query))
        rows = [account_item(a, now) | {"last_sign_in": last_sign_in(session, a.username)}
                for a in found[:PAGE]]  # fmt: skip
        people = _reader(request, session)
    more = len(found) > PAGE
    next_cursor = keyset.encode("accounts", rows[-1]["username"], 0) if more else None
    for row in rows:
        row["last_sign_in_local"] = people.at(row["last_sign_in"]) if row["last_sign_in"] else None
    return rows, next_cursor


def _reader(request: Request, session: Session) -> Reader:
    return reader(session, request.path_params["site"], [])


def _list_values(request: Request, who: Visitor, site: str, cursor: str | None) -> dict[str, Any]:
    shown = site_view(request, site)
    rows, next_cursor = _listed(request, cursor)
    here = f"{prefix(request)}/sites/{site}/accounts"
    return {
        **frame(request, who, shown, "accounts"),
        "rows": rows,
        "here": here,
        "next_link": f"{here}?cursor={next_cursor}" if next_cursor else None,
        "first_link": here if cursor else None,
        "person_roles": PERSON_ROLES,
        "system_roles": SYSTEM_ROLE_NAMES,
        "refused": None,
        "secret": None,
        "done": None,
    }


@router.get("/sites/{site}/accounts", name="accounts")
def accounts(
    request: Request,
    site: str,
    who: Administering,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """Every account, a page at a time, and the form to create one."""
    return page(request, "accounts.html", _list_values(request, who, site, cursor or None))


def _account_values(request: Request, who: Visitor, site: str, username: str) -> dict[str, Any]:
    shown = site_view(request, site)
    hub = hub_of(request)
    with hub.sessions() as session:
        query = accounts_query().where(t.accounts.c.username == username)
        found: Account | None = session.scalars(query).first()
        if found is None:
            raise NotFound(f"No account {username}.", reason="account.unknown", field="username")
        row = account_item(found, hub.bus.deps.clock.now())
        signed_in = last_sign_in(session, username)
        people = _reader(request, session)
    row["last_sign_in_local"] = people.at(signed_in) if signed_in else None
    return {
        **frame(request, who, shown, "accounts"),
        "account": row,
        "roles": SYSTEM_ROLE_NAMES if row["kind"] == "system" else PERSON_ROLES,
        "here": f"{prefix(request)}/sites/{site}/accounts/{username}",
        "accounts_link": f"{prefix(request)}/sites/{site}/accounts",
        "refused": None,
        "secret": None,
        "done": None,
    }


@router.get("/sites/{site}/accounts/{username}", name="account")
def account(
    request: Request,
    site: str,
    username: str,
    who: Administering,
    done: Literal["roles", "unlock", "deactivate", "reactivate"] | None = None,
) -> Response:
    """One account, and what an administrator may do to it."""
    values = _account_values(request, who, site, username)
    values["done"] = done
    return page(request, "account.html", values)


async def _run(request: Request, command: Command) -> LabgateError | None:
    """Send the command; a refusal comes back (audited) instead of being raised."""
    try:
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        await audit(request, error)
        return error
    return None


async def _refused(
    request: Request, who: Visitor, site: str, username: str, error: LabgateError
) -> Response:
    if isinstance(error, NotFound):  # no such account: its refusal page (audited once)
        raise error
    values = await run_in_threadpool(_account_values, request, who, site, username)
    values["refused"] = error
    return page(request, "account.html", values, status=http_status(error))


@router.post("/sites/{site}/accounts/{username}/roles", name="account_roles")
async def set_roles(request: Request, site: str, username: str, who: Administering) -> Response:
    """PUT /api/v1/accounts/{username}/roles: the roles ticked, with a reason."""
    form = await posted_form(request, who)
    roles = tuple((await request.form()).getlist("roles"))
    ctx = context(request, who.account.username)
    command = SetRoles(ctx, username, tuple(r for r in roles if isinstance(r, str)),
                       form.get("reason", ""))  # fmt: skip
    if (error := await _run(request, command)) is not None:
        return await _refused(request, who, site, username, error)
    return RedirectResponse(f"{prefix(request)}/sites/{site}/accounts/{username}?done=roles", 303)


@router.post("/sites/{site}/accounts/{username}/state", name="account_state")
async def change_state(request: Request, site: str, username: str, who: Administering) -> Response:
    """POST /api/v1/accounts/{username}/{action}: unlock, deactivate or reactivate."""
    form = await posted_form(request, who)
    action = form.get("action", "")
    ctx = context(request, who.account.username)
    command = ChangeAccountState(ctx, username, action, form.get("reason", ""))
    if (error := await _run(request, command)) is not None:
        return await _refused(request, who, site, username, error)
    done = action if action in STATES else ""
    return RedirectResponse(f"{prefix(request)}/sites/{site}/accounts/{username}?done={done}", 303)


@router.post("/sites/{site}/accounts/{username}/password", name="account_password")
async def temporary_password(
    request: Request, site: str, username: str, who: Administering
) -> Response:
    """PUT /api/v1/accounts/{username}/password with a password the server draws: shown once,
    here; the person must replace it at their next sign-in."""
    form = await posted_form(request, who)
    password = secrets.token_urlsafe(15)
    ctx = context(request, who.account.username)
    command = SetPassword(ctx, username, password, form.get("reason", ""))
    if (error := await _run(request, command)) is not None:
        return await _refused(request, who, site, username, error)
    values = await run_in_threadpool(_account_values, request, who, site, username)
    values["secret"] = {"label": "Temporary password", "value": password}
    return page(request, "account.html", values)


@router.post("/sites/{site}/accounts/{username}/api-key", name="account_api_key")
async def issue_api_key(request: Request, site: str, username: str, who: Administering) -> Response:
    """A new API key for a system account: shown once, here; the old one stops working."""
    form = await posted_form(request, who)
    key = new_api_key()
    ctx = context(request, who.account.username)
    command = IssueApiKey(ctx, username, key, form.get("reason", ""))
    if (error := await _run(request, command)) is not None:
        return await _refused(request, who, site, username, error)
    values = await run_in_threadpool(_account_values, request, who, site, username)
    values["secret"] = {"label": "API key", "value": key}
    return page(request, "account.html", values)


@router.post("/sites/{site}/accounts", name="account_create")
async def create(request: Request, site: str, who: Administering) -> Response:
    """POST /api/v1/accounts: a person with a temporary password, or a system account with an
    API key, either drawn by the server and shown once."""
    form = await posted_form(request, who)
    kind = form.get("kind", "")
    if kind not in ("person", "system"):  # the API's body model refuses any other kind
        raise InvalidInput("kind must be person or system.", reason="input.literal_error",
                           field="kind")  # fmt: skip
    roles = tuple(r for r in (await request.form()).getlist("roles") if isinstance(r, str))
    password = secrets.token_urlsafe(15) if kind == "person" else None
    key = new_api_key() if kind == "system" else None
    username = form.get("username", "").strip()
    name = form.get("printed_name", "").strip()
    ctx = context(request, who.account.username)
    command = CreateAccount(ctx, username, name, roles, password, kind, key)
    if (error := await _run(request, command)) is not None:
        values = await run_in_threadpool(_list_values, request, who, site, None)
        values["refused"] = error
        return page(request, "accounts.html", values, status=http_status(error))
    values = await run_in_threadpool(_list_values, request, who, site, None)
    label = "Temporary password" if kind == "person" else "API key"
    values["secret"] = {"label": label, "value": password or key, "username": username}
    return page(request, "accounts.html", values)
