"""Source systems' signing keys: register, revoke, list (rotation is two keys valid at once)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, Field, StrictStr
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.compliance.access import Account, Permission
from labgate.compliance.keys import SourceKey
from labgate.domain.interface_commands import RegisterSourceKey, RevokeSourceKey
from labgate.entrypoints.api.answers.access import KeyRegistered, KeyRevoked, SourceKeyItem
from labgate.entrypoints.api.auth import hub_of, require
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.schemas import Body, ReasonIn
from labgate.service.messages import KEY_LENGTH

router = APIRouter(prefix="/api/v1/sources/{source}/keys", tags=["source keys"])


class SourceKeyIn(Body):
    """A source system's Ed25519 public key (JWK), its key id and validity window."""

    kid: StrictStr = Field(min_length=1, max_length=KEY_LENGTH)  # its form: the handler's rule
    public_jwk: dict[str, Any]
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    reason: StrictStr = Field(min_length=1, max_length=2000)


@router.post(
    "",
    status_code=201,
    summary="Register a source system's public key",
    openapi_extra=refuses(
        {
            404: ("source.unknown",),
            409: ("key.duplicate", "key.material_reused"),
            422: ("key.bad_jwk", "key.bad_kid", "key.bad_validity", "key.private_material"),
        }
    ),
)
async def register_key(
    request: Request,
    source: str,
    body: SourceKeyIn,
    _: Annotated[Account, Depends(require(Permission.MANAGE_KEYS))],
) -> KeyRegistered:
    """Only the public half is accepted; a private key in the body is refused."""
    command = RegisterSourceKey(
        await request_context(request),
        source,
        body.kid,
        body.public_jwk,
        body.valid_from,
        body.valid_until,
        body.reason,
    )
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return KeyRegistered(source=source, kid=body.kid)


@router.post(
    "/{kid}/revocation",
    summary="Revoke a source system's key for good",
    openapi_extra=refuses({404: ("source_key.unknown",), 409: ("key.already_revoked",)}),
)
async def revoke_key(
    request: Request,
    source: str,
    kid: str,
    body: ReasonIn,
    _: Annotated[Account, Depends(require(Permission.MANAGE_KEYS))],
) -> KeyRevoked:
    """A revoked key never verifies an envelope again; register a new key id to rotate."""
    command = RevokeSourceKey(await request_context(request), source, kid, body.reason)
    await run_in_threadpool(hub_of(request).bus.handle, command)
    return KeyRevoked(source=source, kid=kid, revoked=True)


@router.get("", summary="A source system's keys, revoked ones included")
def list_keys(
    request: Request,
    source: str,
    _: Annotated[Account, Depends(require(Permission.READ))],
) -> list[SourceKeyItem]:
    """Every key of the source, oldest first, and whether it is in force now."""
    hub = hub_of(request)
    now = hub.bus.deps.clock.now()
    with hub.sessions() as session:
        query = select(SourceKey).filter_by(source=source).order_by(t.source_keys.c.id)
        return [_view(key, key.valid_at(now)) for key in session.scalars(query)]


def _view(key: SourceKey, in_force: bool) -> SourceKeyItem:
    return SourceKeyItem.model_validate(
        {
            "kid": key.kid,
            "public_jwk": key.public_jwk,
            "valid_from": key.valid_from,
            "valid_until": key.valid_until,
            "registered_by": key.registered_by,
            "registered_at": key.registered_at,
            "revoked_at": key.revoked_at,
            "revoked_by": key.revoked_by,
            "revoke_reason": key.revoke_reason,
            "in_force": in_force,
        }
    )
