"""Who is calling: OAuth2 password-flow bearer tokens for people, API keys for system accounts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.bootstrap import Hub
from labgate.compliance.access import Account, Permission
from labgate.compliance.passwords import hash_api_key
from labgate.domain.errors import LabgateError, Unauthenticated

bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def hub_of(request: Request) -> Hub:
    """The hub the app was built with."""
    hub: Hub = request.app.state.hub
    return hub


def issue_token(hub: Hub, account: Account) -> str:
    """A signed access token for a person, valid for the configured minutes."""
    now = hub.bus.deps.clock.now()
    expires = now + timedelta(minutes=hub.settings.token_minutes)
    claims = {"sub": account.username, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
    return jwt.encode({"alg": "HS256"}, claims, _key(hub))


def _key(hub: Hub) -> OctKey:
    return OctKey.import_key(hub.settings.signing_secret())


def _username_from_token(hub: Hub, token: str) -> str:
    try:
        decoded = jwt.decode(token, _key(hub), algorithms=["HS256"])
        now = int(hub.bus.deps.clock.now().timestamp())
        jwt.JWTClaimsRegistry(
            now=now,
            leeway=0,
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
        ).validate(decoded.claims)
    except ExpiredTokenError:
        raise _expired() from None
    except (JoseError, ValueError):
        raise Unauthenticated(
            "The access token is not valid.", reason="auth.token_invalid"
        ) from None
    # The lifetime is the server's, whatever exp the token carries (a leaked or forged long one).
    if now >= int(decoded.claims["iat"]) + hub.settings.token_minutes * 60:
        raise _expired()
    return str(decoded.claims["sub"])


def _expired() -> Unauthenticated:
    return Unauthenticated(
        "The access token has expired (LABGATE_TOKEN_MINUTES after it was issued); sign in again.",
        reason="auth.token_expired",
    )


def current_account(
    request: Request,
    token: Annotated[str | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Account:
    """The authenticated account, from a bearer token or an API key; 401 otherwise."""
    hub = hub_of(request)
    if api_key and hub.accounts is not None:  # a system account: from the process's cache
        account = hub.accounts.by_api_key(hash_api_key(api_key))
        return _admitted(request, hub, account, "auth.bad_api_key")
    with hub.sessions() as session:
        if api_key:
            query = select(Account).filter_by(api_key_hash=hash_api_key(api_key), kind="system")
            reason = "auth.bad_api_key"
        elif token:
            # Tokens are for people; system accounts use their API keys only.
            username = _username_from_token(hub, token)
            query = select(Account).filter_by(username=username, kind="person")
            reason = "auth.token_invalid"
        else:
            raise Unauthenticated(
                "Sign in (Authorization: Bearer) or send an API key (X-API-Key).",
                reason="auth.missing",
            )
        account = session.scalars(query).one_or_none()
    return _admitted(request, hub, account, reason)


def _admitted(request: Request, hub: Hub, account: Account | None, reason: str) -> Account:
    if account is None or not account.active or account.is_locked(hub.bus.deps.clock.now()):
        raise Unauthenticated("Unknown, locked or deactivated account.", reason=reason)
    request.state.actor = account
    return account


def require(permission: Permission) -> Callable[..., Awaitable[Account]]:
    """A dependency that admits only accounts holding `permission`."""

    async def dependency(account: Annotated[Account, Depends(current_account)]) -> Account:
        account.require(permission)  # no I/O: on the event loop, not a worker thread
        return account

    dependency.permission = permission  # type: ignore[attr-defined]  # read by api/contract.py
    return dependency


@dataclass(frozen=True)
class Sender:
    """Who sent a message, and how far that is known: `as_of` is the accounts' version the
    account was taken from the process's cache at, without a read (None: read fresh). Whoever
    writes the message compares it with the version then in force (`still_sender`)."""

    account: Account
    key_hash: str | None = None
    as_of: int | None = None


def sender(permission: Permission) -> Callable[..., Awaitable[Sender]]:
    """A dependency for the message intake: a system account whose API key the cache knows and
    admits is taken on the event loop, no thread and no read, and checked again by the writer
    against the version then in force (one read for a whole group of messages); anyone else is
    checked as every other route checks them."""

    async def dependency(
        request: Request,
        token: Annotated[str | None, Depends(bearer)],
        api_key: Annotated[str | None, Depends(api_key_header)],
    ) -> Sender:
        hub = hub_of(request)
        if api_key and hub.accounts is not None:
            key_hash = hash_api_key(api_key)
            known = hub.accounts.known(key_hash)
            if known is not None and _admits(hub, known[0], permission):
                request.state.actor = known[0]
                return Sender(known[0], key_hash, known[1])
        # Unknown to the cache, or refused by it (which may be stale): the fresh check decides.
        account = await run_in_threadpool(current_account, request, token, api_key)
        account.require(permission)
        return Sender(account)

    # Read by api/contract.py: the route refuses as a signed-in one with this permission does.
    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.signs_in = True  # type: ignore[attr-defined]
    return dependency


def _admits(hub: Hub, account: Account, permission: Permission) -> bool:
    if not account.active or account.is_locked(hub.bus.deps.clock.now()):
        return False
    try:
        account.require(permission)
    except LabgateError:
        return False
    return True


def still_sender(hub: Hub, sent: Sender, permission: Permission, version: int) -> None:
    """Raise as the fresh check would if the accounts moved since `sent` was taken from the
    cache and its key, account or roles no longer admit it (blocking: a worker thread's)."""
    if sent.as_of is None or sent.as_of == version or hub.accounts is None:
        return
    assert sent.key_hash is not None
    account = hub.accounts.by_api_key(sent.key_hash)
    if account is None or not account.active or account.is_locked(hub.bus.deps.clock.now()):
        raise Unauthenticated("Unknown, locked or deactivated account.", reason="auth.bad_api_key")
    account.require(permission)
