"""Sign-in (OAuth2 password flow), who am I, and account administration."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.compliance.access import Account, Permission
from labgate.compliance.passwords import new_api_key
from labgate.domain.commands import ChangeAccountState, Context, CreateAccount, SignIn
from labgate.domain.errors import Unauthenticated
from labgate.entrypoints.api.auth import current_account, hub_of, issue_token, require
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.schemas import AccountIn, ReasonIn
from labgate.service.messages import KEY_LENGTH

router = APIRouter(prefix="/api/v1", tags=["access"])


@router.post("/token", summary="Sign in (OAuth2 password flow)")
def token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict[str, Any]:
    """Exchange user id and password for a bearer token; failures count towards lockout."""
    hub = hub_of(request)
    if len(form.username) > KEY_LENGTH:  # names no account, and would not fit the audit trail
        raise Unauthenticated(
            "Unknown user id or wrong password.", reason="auth.bad_credentials", field="password"
        )
    ctx = Context(form.username, "person", request.state.correlation_id)
    account: Account = hub.bus.handle(SignIn(ctx, form.username, form.password))
    return {
        "access_token": issue_token(hub, account),
        "token_type": "bearer",
        "expires_in": hub.settings.token_minutes * 60,
    }


@router.get("/me", summary="The signed-in account")
def me(account: Annotated[Account, Depends(current_account)]) -> dict[str, Any]:
    """Who the caller is and what they may do."""
    return {
        "username": account.username,
        "printed_name": account.printed_name,
        "kind": account.kind,
        "roles": account.roles,
        "permissions": sorted(p.value for p in account.permissions()),
    }


@router.post("/accounts", status_code=201, summary="Create a person or system account")
async def create_account(
    request: Request,
    body: AccountIn,
    _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))],
) -> dict[str, Any]:
    """People get a password; system accounts get an API key, shown in this answer only."""
    api_key = new_api_key() if body.kind == "system" else None
    command = CreateAccount(
        await request_context(request),
        body.username,
        body.printed_name,
        tuple(body.roles),
        body.password,
        body.kind,
        api_key,
    )
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return {"username": body.username, "kind": body.kind, "api_key": api_key}


@router.get("/accounts", summary="List accounts")
def list_accounts(
    request: Request, _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))]
) -> list[dict[str, Any]]:
    """Every account, active or not (accounts are never deleted)."""
    with hub_of(request).sessions() as session:
        accounts = session.scalars(select(Account).order_by(t.accounts.c.username))
        return [
            {
                "username": a.username,
                "printed_name": a.printed_name,
                "kind": a.kind,
                "roles": a.roles,
                "active": a.active,
                "locked": a.locked_at is not None,
            }
            for a in accounts
        ]


@router.post("/accounts/{username}/{action}", summary="Unlock, deactivate or reactivate")
async def change_account_state(
    request: Request,
    username: str,
    action: Literal["unlock", "deactivate", "reactivate"],
    body: ReasonIn,
    _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))],
) -> dict[str, Any]:
    """Access changes are recorded with a reason; accounts are never deleted."""
    command = ChangeAccountState(await request_context(request), username, action, body.reason)
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return {"username": username, "action": action}
