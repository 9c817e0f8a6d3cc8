"""Sign-in (OAuth2 password flow), who am I, and account administration."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import Field, StrictStr
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store.account_view import account_item, accounts_query
from labgate.compliance.access import SIGN_IN_FAILED, Account, Permission
from labgate.compliance.passwords import new_api_key
from labgate.compliance.throttle import UNAUTHENTICATED
from labgate.domain.account_commands import ChangePassword, IssueApiKey, SetPassword, SetRoles
from labgate.domain.commands import ChangeAccountState, Context, CreateAccount, SignIn
from labgate.domain.errors import Unauthenticated
from labgate.entrypoints.api.answers.access import (
    AccountCreated,
    AccountItem,
    AccountRoles,
    AccountStateChanged,
    ApiKeyIssued,
    MeAnswer,
    PasswordState,
    TokenAnswer,
)
from labgate.entrypoints.api.auth import current_account, hub_of, issue_token, require
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.schemas import AccountIn, Body, ReasonIn
from labgate.service.messages import KEY_LENGTH

router = APIRouter(prefix="/api/v1", tags=["access"])

# The role policy's rules, for every route that gives or restores roles.
ROLE_RULES = ("account.bad_role", "account.no_role", "account.role_kind_mismatch")


class RolesIn(Body):
    """An account's new roles, and why."""

    roles: list[StrictStr] = Field(max_length=16)
    reason: StrictStr = Field(min_length=1, max_length=2000)


class PasswordSetIn(Body):
    """A temporary password an administrator chose, and why."""

    password: StrictStr = Field(min_length=1, max_length=200, repr=False)
    reason: StrictStr = Field(min_length=1, max_length=2000)


class PasswordChangeIn(Body):
    """The current password, and the new one its owner chose."""

    current_password: StrictStr = Field(min_length=1, max_length=200, repr=False)
    new_password: StrictStr = Field(min_length=1, max_length=200, repr=False)


@router.post(
    "/token",
    summary="Sign in (OAuth2 password flow)",
    # Whatever fails (unknown id, wrong password, locked, deactivated), the caller learns one code.
    openapi_extra=refuses({401: ("auth.bad_credentials",)}),
)
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenAnswer:
    """Exchange user id and password for a bearer token; failures count towards lockout."""
    hub = hub_of(request)
    if len(form.username) > KEY_LENGTH:  # names no account, and would not fit the audit trail
        raise Unauthenticated(SIGN_IN_FAILED, reason="auth.bad_credentials", field="password")
    # Not signed in yet: the refusals count against the caller's address (throttle.py).
    client = request.client.host if request.client else None
    ctx = Context(form.username, UNAUTHENTICATED, request.state.correlation_id, client=client)
    account: Account = hub.bus.handle(SignIn(ctx, form.username, form.password))
    return TokenAnswer(
        access_token=issue_token(hub, account),
        token_type="bearer",
        expires_in=hub.settings.token_minutes * 60,
        # A temporary password: the token serves /me and the password change, nothing else.
        password_change_required=account.must_change_password,
    )


@router.get("/me", summary="The signed-in account")
def me(account: Annotated[Account, Depends(current_account)]) -> MeAnswer:
    """Who the caller is and what they may do."""
    return MeAnswer.model_validate(
        {
            "username": account.username,
            "printed_name": account.printed_name,
            "kind": account.kind,
            "roles": account.roles,
            "permissions": sorted(p.value for p in account.permissions()),
            "password_change_required": account.must_change_password,
        }
    )


@router.post(
    "/me/password",
    summary="Change your own password",
    openapi_extra=refuses(
        {
            401: ("auth.bad_credentials", "auth.locked"),
            422: ("account.password_reused", "account.weak_password"),
        }
    ),
)
async def change_own_password(
    request: Request,
    body: PasswordChangeIn,
    account: Annotated[Account, Depends(current_account)],
) -> PasswordState:
    """Replace your password, proving the current one; required after an administrator set it."""
    command = ChangePassword(
        await request_context(request), account.username, body.current_password, body.new_password
    )
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return PasswordState(username=account.username, password_change_required=False)


@router.post(
    "/accounts",
    status_code=201,
    summary="Create a person or system account",
    openapi_extra=refuses(
        {
            403: ("access.role_conflict",),
            409: ("key.duplicate",),
            422: (*ROLE_RULES, "account.weak_password"),
        }
    ),
)
async def create_account(
    request: Request,
    body: AccountIn,
    _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))],
) -> AccountCreated:
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
    return AccountCreated.model_validate(
        {"username": body.username, "kind": body.kind, "api_key": api_key}
    )


@router.get("/accounts", summary="List accounts")
def list_accounts(
    request: Request, _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))]
) -> list[AccountItem]:
    """Every account, active or not (accounts are never deleted)."""
    now = hub_of(request).bus.deps.clock.now()  # a lock ends by itself
    with hub_of(request).sessions() as session:
        accounts: list[Account] = list(session.scalars(accounts_query()))
        return [AccountItem.model_validate(account_item(a, now)) for a in accounts]


@router.put(
    "/accounts/{username}/roles",
    summary="Replace an account's roles",
    openapi_extra=refuses(
        {
            403: ("access.role_conflict",),
            404: ("account.unknown",),
            409: ("account.last_admin",),
            422: ROLE_RULES,
        }
    ),
)
async def set_roles(
    request: Request,
    username: str,
    body: RolesIn,
    _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))],
) -> AccountRoles:
    """Under the site's role policy (LABGATE_ROLE_CONFLICTS), with a reason; audited."""
    command = SetRoles(await request_context(request), username, tuple(body.roles), body.reason)
    roles = await run_in_threadpool(hub_of(request).bus.handle, command)
    return AccountRoles.model_validate({"username": username, "roles": roles})


@router.put(
    "/accounts/{username}/password",
    summary="Set a temporary password",
    openapi_extra=refuses(
        {404: ("account.unknown",), 422: ("account.not_a_person", "account.weak_password")}
    ),
)
async def set_password(
    request: Request,
    username: str,
    body: PasswordSetIn,
    _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))],
) -> PasswordState:
    """The person must replace it at their next sign-in before anything else works."""
    command = SetPassword(await request_context(request), username, body.password, body.reason)
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return PasswordState(username=username, password_change_required=True)


@router.post(
    "/accounts/{username}/api-key",
    summary="Issue a new API key to a system account",
    openapi_extra=refuses({404: ("account.unknown",), 422: ("account.not_a_system",)}),
)
async def issue_api_key(
    request: Request,
    username: str,
    body: ReasonIn,
    _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))],
) -> ApiKeyIssued:
    """The key it replaces stops working at once; the new one is in this answer only."""
    api_key = new_api_key()
    command = IssueApiKey(await request_context(request), username, api_key, body.reason)
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return ApiKeyIssued(username=username, api_key=api_key)


# Declared after .../api-key, which its `{action}` would otherwise take first.
@router.post(
    "/accounts/{username}/{action}",
    summary="Unlock, deactivate or reactivate",
    openapi_extra=refuses(
        {
            # Reactivating checks the account's roles against today's role policy.
            403: ("access.role_conflict",),
            404: ("account.unknown",),
            409: ("account.last_admin",),
            422: ROLE_RULES,
        }
    ),
)
async def change_account_state(
    request: Request,
    username: str,
    action: Literal["unlock", "deactivate", "reactivate"],
    body: ReasonIn,
    _: Annotated[Account, Depends(require(Permission.MANAGE_USERS))],
) -> AccountStateChanged:
    """Access changes are recorded with a reason; accounts are never deleted."""
    command = ChangeAccountState(await request_context(request), username, action, body.reason)
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return AccountStateChanged(username=username, action=action)
