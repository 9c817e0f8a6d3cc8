"""Who is at the browser: the session behind the cookie, its idle time-out, and the permission
a page declares. The rules are the API's (Account.require); the console only asks them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.bootstrap import Hub
from labgate.compliance.access import Account, Permission
from labgate.domain.account_commands import SignOut
from labgate.domain.commands import Context
from labgate.entrypoints.web import csrf, sessions
from labgate.entrypoints.web.render import prefix

FIRST_PAGES = ("/password", "/sign-out")


# Sent by a live table's own refresh (hx-headers on its block): a page left open must still
# time out. A forged header can only make its own session time out sooner.
REFRESH_HEADER = "X-Live-Refresh"


class GoTo(Exception):
    """Answer with a redirect to `url` (a page the visitor must see first)."""

    def __init__(self, url: str, *, forget_cookie: bool = False) -> None:
        super().__init__(url)
        self.url = url
        self.forget_cookie = forget_cookie


@dataclass(frozen=True)
class Visitor:
    """The signed-in person, their session, and the CSRF token their forms carry."""

    account: Account
    session: sessions.ConsoleSession
    csrf: str

    def may(self, permission: Permission) -> bool:
        """Whether a link or button needing `permission` is shown."""
        return self.account.active and permission in self.account.permissions()


def hub_of(request: Request) -> Hub:
    """The hub the console was built with."""
    hub: Hub = request.app.state.hub
    return hub


def context(request: Request, actor: str | None, kind: str = "person") -> Context:
    """Who acts, the trace id and the browser's address, as the API's commands carry them."""
    return Context(
        actor=actor or "anonymous",
        actor_kind=kind if actor else "unauthenticated",
        correlation_id=getattr(request.state, "correlation_id", None),
        client=request.client.host if request.client else None,
    )


def sign_in_url(request: Request, **query: str) -> str:
    """The sign-in page, coming back to this page afterwards."""
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{prefix(request)}/sign-in?{urlencode({**query, 'next': wanted})}"


async def visitor(request: Request) -> Visitor:
    """The signed-in person; a redirect to the sign-in page otherwise, asking for the password
    again after the idle time-out, and to the password page while the password is temporary."""
    hub = hub_of(request)
    now = hub.bus.deps.clock.now()
    found = await run_in_threadpool(
        sessions.find, hub.sessions, request.cookies.get(sessions.COOKIE)
    )
    if found is None:
        raise GoTo(sign_in_url(request), forget_cookie=True)
    idle = timedelta(minutes=hub.settings.console_idle_minutes)
    if found.idle(now, idle):
        await end_session(request, found, sessions.IDLE)
        raise GoTo(sign_in_url(request, user=found.username, idle="1"), forget_cookie=True)
    account = await run_in_threadpool(_account, hub, found.username)
    if account is None or not account.active or account.is_locked(now):
        await end_session(request, found, sessions.ACCOUNT_CLOSED)
        raise GoTo(sign_in_url(request), forget_cookie=True)
    if request.headers.get(REFRESH_HEADER) != "1":  # a table refreshing itself is no activity
        await run_in_threadpool(sessions.touch, hub.sessions, found, now)
    request.state.actor = account
    token = request.cookies[sessions.COOKIE]
    shown = Visitor(account, found, csrf.token_for(hub.settings.signing_secret(), token, "session"))
    request.state.visitor = shown  # a refusal page still shows who is signed in
    # A temporary password opens the password form and sign-out, nothing else (as in the API).
    if account.must_change_password and not request.url.path.endswith(FIRST_PAGES):
        raise GoTo(f"{prefix(request)}/password")
    return shown


async def end_session(request: Request, found: sessions.ConsoleSession, why: str) -> None:
    """End the session and put its end on the trail (once, whichever tab ends it)."""
    hub = hub_of(request)
    ended = await run_in_threadpool(
        sessions.end, hub.sessions, found, hub.bus.deps.clock.now(), why
    )
    if ended:
        command = SignOut(context(request, found.username), found.username, why)
        await run_in_threadpool(hub.bus.handle, command)


def _account(hub: Hub, username: str) -> Account | None:
    with hub.sessions() as session:
        return session.scalars(select(Account).filter_by(username=username)).one_or_none()


SignedIn = Annotated[Visitor, Depends(visitor)]


def allowed(permission: Permission) -> Callable[..., Visitor]:
    """A page's one permission: refused 403 (and audited) to an account without it."""

    def dependency(who: SignedIn) -> Visitor:
        who.account.require(permission)
        return who

    return dependency


async def posted_form(request: Request, who: Visitor) -> dict[str, str]:
    """The form a signed-in person posted, once its CSRF token is checked (403 otherwise)."""
    form = await request.form()
    secret = hub_of(request).settings.signing_secret()
    csrf.check(secret, request.cookies.get(sessions.COOKIE), "session", form.get(csrf.FIELD))
    return {key: value for key, value in form.items() if isinstance(value, str)}
