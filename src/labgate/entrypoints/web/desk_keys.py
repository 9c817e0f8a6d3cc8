"""Source systems' signing keys and identity maps, per source: the keys as GET
/api/v1/sources/{source}/keys lists them (with each key's RFC 7638 thumbprint), registering a
public key and revoking one; the person ids as GET .../identities lists them, and mapping one
(an `identity.unmapped` message's cause); all through the very bus commands the API sends.
Rotation is the API's: register the new key id while the old is still in force, then revoke the
old one once the source signs with the new."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.compliance.access import Permission
from labgate.compliance.checkpoints import thumbprint
from labgate.compliance.identities import PartnerIdentity
from labgate.compliance.keys import SourceKey
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.domain.interface_commands import MapIdentity, RegisterSourceKey, RevokeSourceKey
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.desk_common import desk_frame, desk_url
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]
Managing = Annotated[Visitor, Depends(allowed(Permission.MANAGE_KEYS))]
Mapping = Annotated[Visitor, Depends(allowed(Permission.MANAGE_USERS))]


def keys_values(request: Request, who: Visitor, site: str, source: str | None) -> dict[str, Any]:
    """The system accounts (the sources), and the keys of the one shown, oldest first."""
    hub = hub_of(request)
    now = hub.bus.deps.clock.now()
    with hub.sessions() as session:
        systems = select(t.accounts.c.username).where(t.accounts.c.kind == "system")
        sources = list(session.scalars(systems.order_by(t.accounts.c.username)))
        shown = source or (sources[0] if sources else None)
        query = select(SourceKey).filter_by(source=shown).order_by(t.source_keys.c.id)
        keys = [_view(key, now) for key in session.scalars(query)]
        mapped = select(PartnerIdentity).filter_by(source=shown).order_by(t.identity_map.c.id)
        identities = [_mapping(m) for m in session.scalars(mapped)]
    users = [u for k in keys for u in (k["registered_by"], k["revoked_by"])]
    users += [u for i in identities for u in (i["account"], i["mapped_by"])]
    values = desk_frame(request, who, site, "keys", users)
    return values | {
        "sources": sources,
        "source": shown,
        "keys": keys,
        "here": f"{values['desk']}/keys",
        "identities": identities,
        "may_manage": who.may(Permission.MANAGE_KEYS) and shown is not None,
        "may_map": who.may(Permission.MANAGE_USERS) and shown is not None,
        "valid_from_default": now.replace(microsecond=0).isoformat(),
        "refused": None,
        "form": {},
        "done": None,
    }


def _mapping(found: PartnerIdentity) -> dict[str, Any]:
    keep = ("external_id", "account", "active", "mapped_by", "mapped_at", "reason")
    return {name: getattr(found, name) for name in keep}


def _view(key: SourceKey, now: datetime) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "algorithm": key.public_jwk.get("alg") or f"{key.public_jwk.get('crv')} (EdDSA)",
        "thumbprint": thumbprint(key.public_jwk),
        "valid_from": key.valid_from,
        "valid_until": key.valid_until,
        "registered_by": key.registered_by,
        "registered_at": key.registered_at,
        "revoked_at": key.revoked_at,
        "revoked_by": key.revoked_by,
        "revoke_reason": key.revoke_reason,
        "in_force": key.valid_at(now),
    }


@router.get("/sites/{site}/desk/keys", name="desk_keys")
def keys(
    request: Request,
    site: str,
    who: Reading,
    source: Annotated[str | None, Query(max_length=64)] = None,
    done: Annotated[str | None, Query(pattern="^(registered|revoked|mapped)$")] = None,
) -> Response:
    """One source's keys (the first system account's unless one is asked for)."""
    values = keys_values(request, who, site, source or None)
    values["done"] = done
    return page(request, "desk_keys.html", values)


def _jwk(text: str) -> dict[str, Any]:
    """The pasted public key: a JWK object, as POST /api/v1/sources/{source}/keys takes it."""
    try:
        jwk = json.loads(text)
    except json.JSONDecodeError as error:
        jwk, why = None, f"it is not JSON ({error.msg} at character {error.pos})"
    else:
        why = "it is JSON but not an object"
    if not isinstance(jwk, dict):
        raise InvalidInput(
            f'Public key: paste the key as a JWK object ({{"kty": "OKP", "crv": '
            f'"Ed25519", "x": ...}}); {why}. A PEM file is not accepted.',
            reason="key.bad_jwk",
            field="public_jwk",
        )
    return jwk


def _moment(text: str, field: str, label: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(
            f"{label}: give a date and time with its UTC offset, as 2026-12-07T09:30:00+00:00.",
            reason="input.datetime_invalid",
            field=field,
        )
    return moment


def _register(request: Request, who: Visitor, source: str, form: dict[str, str]) -> None:
    until = form.get("valid_until", "").strip()
    command = RegisterSourceKey(
        context(request, who.account.username),
        source,
        form.get("kid", "").strip(),
        _jwk(form.get("public_jwk", "")),
        _moment(form.get("valid_from", ""), "valid_from", "Valid from"),
        _moment(until, "valid_until", "Valid until") if until else None,
        form.get("reason", ""),
    )
    hub_of(request).bus.handle(command)


async def _acted(
    request: Request, who: Visitor, site: str, source: str, done: str, act: Any
) -> Response:
    form = await posted_form(request, who)
    try:
        await run_in_threadpool(act, form)
    except LabgateError as error:
        await audit(request, error)
        values = await run_in_threadpool(keys_values, request, who, site, source)
        kept = {k: v for k, v in form.items() if k != "csrf_token"} if done != "revoked" else {}
        values |= {"refused": error, "form": kept}
        return page(request, "desk_keys.html", values, status=http_status(error))
    here = f"{desk_url(request, site)}/keys?source={source}&done={done}"
    return RedirectResponse(here, status_code=303)


@router.post("/sites/{site}/desk/keys/{source}", name="desk_key_register")
async def register(request: Request, site: str, source: str, who: Managing) -> Response:
    """Register a source's public key (JWK) with its validity and a reason."""
    return await _acted(
        request, who, site, source, "registered", lambda f: _register(request, who, source, f)
    )


@router.post("/sites/{site}/desk/keys/{source}/{kid}/revocation", name="desk_key_revoke")
async def revoke(request: Request, site: str, source: str, kid: str, who: Managing) -> Response:
    """Revoke a key for good, with a reason."""

    def act(form: dict[str, str]) -> None:
        ctx = context(request, who.account.username)
        hub_of(request).bus.handle(RevokeSourceKey(ctx, source, kid, form.get("reason", "")))

    return await _acted(request, who, site, source, "revoked", act)


@router.post("/sites/{site}/desk/keys/{source}/identities", name="desk_identity_map")
async def map_identity(request: Request, site: str, source: str, who: Mapping) -> Response:
    """Say which labgate account the source means by a person id, with a reason."""

    def act(form: dict[str, str]) -> None:
        ctx = context(request, who.account.username)
        external, account = form.get("external_id", "").strip(), form.get("account", "").strip()
        command = MapIdentity(ctx, source, external, account, form.get("reason", ""))
        hub_of(request).bus.handle(command)

    return await _acted(request, who, site, source, "mapped", act)
