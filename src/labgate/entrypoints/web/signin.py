"""Sign-in, the first change of a temporary password, and sign-out. The checks, the lockout
counter and the audit entries are the API's own: SignIn and ChangePassword through the bus."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from labgate.compliance.access import SIGN_IN_FAILED
from labgate.compliance.throttle import UNAUTHENTICATED
from labgate.domain.account_commands import ChangePassword
from labgate.domain.commands import SignIn
from labgate.domain.errors import InvalidInput, LabgateError, Unauthenticated
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web import csrf, sessions
from labgate.entrypoints.web.access import (
    SignedIn,
    Visitor,
    context,
    end_session,
    hub_of,
    posted_form,
    visitor,
)
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page, prefix
from labgate.service.handlers.account_admin import MIN_PASSWORD
from labgate.service.messages import KEY_LENGTH

router = APIRouter()


def _secure(request: Request) -> bool:
    # Behind TLS (directly, or a proxy uvicorn trusts for X-Forwarded-Proto) the cookie never
    # travels over plain HTTP.
    return request.url.scheme == "https"


def _next(request: Request, wanted: str | None) -> str:
    """Where to go after sign-in: a console page only, never another site."""
    base = prefix(request)
    if wanted and wanted.startswith(f"{base}/") and "//" not in wanted and "\\" not in wanted:
        return wanted
    return f"{base}/"


def _sign_in_page(request: Request, pre: str, status: int = 200, **values: Any) -> Response:
    token = csrf.token_for(hub_of(request).settings.signing_secret(), pre, "pre")
    shown = {
        "who": None,
        "csrf": token,
        "user": request.query_params.get("user", ""),
        "next": request.query_params.get("next", ""),
        "idle": request.query_params.get("idle") == "1",
        "signed_out": request.query_params.get("signed_out") == "1",
        "idle_minutes": hub_of(request).settings.console_idle_minutes,
        "error": None,
        **values,
    }
    answer = page(request, "sign_in.html", shown, status=status)
    answer.set_cookie(csrf.PRE_COOKIE, pre, path=prefix(request) or "/", httponly=True,
                      samesite="strict", secure=_secure(request))  # fmt: skip
    return answer


@router.get("/sign-in", name="sign_in_page")
def sign_in_page(request: Request) -> Response:
    """The sign-in form."""
    pre = request.cookies.get(csrf.PRE_COOKIE) or secrets.token_urlsafe(32)
    return _sign_in_page(request, pre)


@router.post("/sign-in", name="sign_in")
async def sign_in(request: Request) -> Response:
    """Check user id and password as POST /api/v1/token does; start a session."""
    hub = hub_of(request)
    form = await request.form()
    pre = request.cookies.get(csrf.PRE_COOKIE)
    csrf.check(hub.settings.signing_secret(), pre, "pre", form.get(csrf.FIELD))
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    wanted = str(form.get("next", ""))
    again = {"user": username, "next": wanted}
    try:
        if len(username) > KEY_LENGTH:  # names no account, and would not fit the audit trail
            refused = Unauthenticated(SIGN_IN_FAILED, reason="auth.bad_credentials")
            await audit(request, refused)
            raise refused
        # As the API's token route: the id typed, not yet vouched for (refusals count against
        # the browser's address); the handler makes it the person once the password matches.
        command = SignIn(context(request, username, UNAUTHENTICATED), username, password)
        account = await run_in_threadpool(hub.bus.handle, command)
    except LabgateError as error:
        return _sign_in_page(request, str(pre), status=http_status(error), error=error, **again)
    # One session per browser: one left open here (by this person or by one who walked away
    # from a shared workstation) ends with this sign-in.
    earlier = await run_in_threadpool(
        sessions.find, hub.sessions, request.cookies.get(sessions.COOKIE)
    )
    if earlier is not None:
        await end_session(request, earlier, sessions.REPLACED)
    token = await run_in_threadpool(
        sessions.start, hub.sessions, account.username, hub.bus.deps.clock.now()
    )
    target = f"{prefix(request)}/password" if account.must_change_password else wanted
    answer = RedirectResponse(_next(request, target), status_code=303)
    answer.set_cookie(sessions.COOKIE, token, path=prefix(request) or "/", httponly=True,
                      samesite="strict", secure=_secure(request))  # fmt: skip
    answer.delete_cookie(csrf.PRE_COOKIE, path=prefix(request) or "/")
    return answer


@router.get("/password", name="password_page")
def password_page(request: Request, who: SignedIn) -> Response:
    """The form to choose one's own password (required while it is a temporary one)."""
    return _password_page(request, who, None)


def _password_page(request: Request, who: Visitor, error: LabgateError | None) -> Response:
    values = {"who": who, "error": error, "site": None, "min_password": MIN_PASSWORD}
    return page(request, "password.html", values, status=http_status(error) if error else 200)


@router.post("/password", name="change_password")
async def change_password(request: Request, who: Annotated[Visitor, Depends(visitor)]) -> Response:
    """Replace the password, proving the current one, as POST /api/v1/me/password does."""
    form = await posted_form(request, who)
    new = form.get("new_password", "")
    if new != form.get("confirm_password", ""):
        mismatch = InvalidInput(
            "The two new passwords differ; type the same one twice.",
            reason="console.password_mismatch",
            field="confirm_password",
        )
        return _password_page(request, who, mismatch)
    username = who.account.username
    command = ChangePassword(context(request, username), username,
                             form.get("current_password", ""), new)  # fmt: skip
    try:
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        return _password_page(request, who, error)
    return RedirectResponse(f"{prefix(request)}/", status_code=303)


@router.post("/sign-out", name="sign_out")
async def sign_out(request: Request, who: SignedIn) -> Response:
    """End the session (audited) and show the sign-in page."""
    await posted_form(request, who)
    await end_session(request, who.session, sessions.SIGNED_OUT)
    answer = RedirectResponse(f"{prefix(request)}/sign-in?signed_out=1", status_code=303)
    answer.delete_cookie(sessions.COOKIE, path=prefix(request) or "/")
    return answer
