"""Source systems' public keys: registered with a validity window, revoked for good, audited.
Rotation with overlap is two keys of one source valid at once; nothing else is needed for it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from joserfc.jwk import OKPKey

from labgate.compliance.access import Account
from labgate.compliance.envelope import ALGORITHM, KID_PATTERN, LEGACY_ALGORITHM, EnvelopeError
from labgate.compliance.keys import SourceKey
from labgate.domain.errors import Conflict, DuplicateKey, InvalidInput, NotFound
from labgate.domain.interface_commands import RegisterSourceKey, RevokeSourceKey
from labgate.domain.reasons import require_reason
from labgate.service.deps import Deps
from labgate.service.handlers.common import must_get, record
from labgate.service.unit_of_work import UnitOfWork

_X = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, base64url without padding
_JWK_MEMBERS = frozenset({"kty", "crv", "x", "kid", "use", "alg", "key_ops"})
# What key tools export beside the key itself, and the values that fit a signature check.
_ALGORITHMS = (ALGORITHM, LEGACY_ALGORITHM)
_KEY_OPS = frozenset({"verify", "sign"})


def register_source_key(cmd: RegisterSourceKey, uow: UnitOfWork, deps: Deps) -> str:
    """Register a source system's Ed25519 public key; returns "source/kid"."""
    with uow:
        _reason(cmd.reason)
        _kid(cmd.kid)
        _validity(cmd.valid_from, cmd.valid_until)
        account = uow.records.get(Account, username=cmd.source)
        if account is None or account.kind != "system":
            raise NotFound(
                f"No system account {cmd.source}; create it before registering its keys.",
                reason="source.unknown",
                field="source",
            )
        jwk = _public_jwk(cmd.public_jwk, cmd.kid)
        if uow.records.get(SourceKey, source=cmd.source, kid=cmd.kid) is not None:
            raise DuplicateKey(
                f"{cmd.source} already has a key {cmd.kid}; key ids are never reused.", field="kid"
            )
        _fresh_material(uow, jwk["x"])
        key = SourceKey(
            source=cmd.source,
            kid=cmd.kid,
            public_jwk=jwk,
            valid_from=cmd.valid_from,
            valid_until=cmd.valid_until,
            registered_by=cmd.ctx.actor,
            registered_at=deps.clock.now(),
        )
        uow.records.add(key)
        subject = ("source_key", f"{cmd.source}/{cmd.kid}", None)
        record(
            uow,
            cmd.ctx,
            key.registered_at,
            "source_key.registered",
            subject,
            after=_view(key),
            reason=cmd.reason,
        )
        uow.commit()
        return subject[1]


def revoke_source_key(cmd: RevokeSourceKey, uow: UnitOfWork, deps: Deps) -> str:
    """Revoke a key: from now on it verifies nothing; returns "source/kid"."""
    with uow:
        _reason(cmd.reason)
        key = must_get(uow, SourceKey, "source_key", "kid", source=cmd.source, kid=cmd.kid)
        if key.revoked_at is not None:
            raise Conflict(
                f"Key {cmd.kid} of {cmd.source} was already revoked on "
                f"{key.revoked_at.isoformat()}.",
                reason="key.already_revoked",
                field="kid",
            )
        before = _revocation(key)
        key.revoked_at, key.revoked_by, key.revoke_reason = (
            deps.clock.now(),
            cmd.ctx.actor,
            cmd.reason,
        )
        subject = ("source_key", f"{cmd.source}/{cmd.kid}", None)
        record(
            uow,
            cmd.ctx,
            key.revoked_at,
            "source_key.revoked",
            subject,
            before=before,
            after=_revocation(key),
            reason=cmd.reason,
        )
        uow.commit()
        return subject[1]


def usable_key(uow: UnitOfWork, source: str, kid: str) -> SourceKey:
    """The registered key (source, kid), inside an open unit of work; verify_envelope then
    decides whether it is in force at the envelope's sent_at."""
    key = uow.records.get(SourceKey, source=source, kid=kid)
    if key is None:
        raise unknown_key(source, kid)
    return key


def unknown_key(source: str, kid: str) -> EnvelopeError:
    """The refusal of an envelope signed with a key never registered."""
    return EnvelopeError(
        f"{source} has no registered key {kid}.",
        reason="envelope.unknown_key",
        field="signature.kid",
    )


def _reason(reason: str) -> None:
    require_reason(reason, what="A change of keys")


def _kid(kid: str) -> None:
    if not KID_PATTERN.fullmatch(kid):
        raise InvalidInput(
            f"Key id {kid!r} must be 1 to 64 letters, digits, '.', '_' or '-'.",
            reason="key.bad_kid",
            field="kid",
        )


def _validity(valid_from: datetime, valid_until: datetime | None) -> None:
    if valid_from.tzinfo is None or (valid_until is not None and valid_until.tzinfo is None):
        raise InvalidInput(
            "Validity times need a timezone.", reason="key.bad_validity", field="valid_from"
        )
    if valid_until is not None and valid_until <= valid_from:
        raise InvalidInput(
            "valid_until must come after valid_from.",
            reason="key.bad_validity",
            field="valid_until",
        )


def _public_jwk(jwk: dict[str, Any], kid: str) -> dict[str, str]:
    if "d" in jwk:
        raise InvalidInput(
            "This JWK holds private key material; register only the public key and keep the "
            "private one with the source system.",
            reason="key.private_material",
            field="public_jwk",
        )
    unknown = sorted(set(jwk) - _JWK_MEMBERS)
    if unknown:
        raise _bad_jwk(
            f"The JWK member {unknown[0]!r} is not accepted; a public Ed25519 JWK has kty, crv, "
            "x and optionally kid, use, alg and key_ops.",
            unknown[0],
        )
    x = jwk.get("x")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        member = "kty" if jwk.get("kty") != "OKP" else "crv"
        raise _bad_jwk("The key must be an Ed25519 public JWK: kty OKP, crv Ed25519.", member)
    if not isinstance(x, str) or not _X.fullmatch(x):
        raise _bad_jwk("x must be the 32-byte public key in base64url without padding.", "x")
    if jwk.get("kid", kid) != kid:
        raise _bad_jwk(f"The JWK's kid {jwk['kid']!r} differs from the key id {kid!r}.", "kid")
    _usage(jwk)
    try:
        OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": x})
    except ValueError:
        raise _bad_jwk("x is not an Ed25519 public key.", "x") from None
    kept = {"kty": "OKP", "crv": "Ed25519", "x": x}
    # Only a partner whose library knows no other name signs "EdDSA": kept on its key.
    if jwk.get("alg") == LEGACY_ALGORITHM:
        kept["alg"] = LEGACY_ALGORITHM
    return kept


def _usage(jwk: dict[str, Any]) -> None:
    if "use" in jwk and jwk["use"] != "sig":
        raise _bad_jwk(f"use is {jwk['use']!r}; a signing key's use is 'sig'.", "use")
    if "alg" in jwk and jwk["alg"] not in _ALGORITHMS:
        raise _bad_jwk(
            f"alg is {jwk['alg']!r}; labgate verifies {ALGORITHM} (or {LEGACY_ALGORITHM}, the "
            "older name, for a library that knows only that one).",
            "alg",
        )
    ops = jwk.get("key_ops", ["verify"])
    if not isinstance(ops, list) or "verify" not in ops or not set(ops) <= _KEY_OPS:
        raise _bad_jwk(f"key_ops is {ops!r}; it must include 'verify' (and may 'sign').", "key_ops")


def _bad_jwk(message: str, member: str) -> InvalidInput:
    return InvalidInput(message, reason="key.bad_jwk", field=f"public_jwk.{member}")


def _fresh_material(uow: UnitOfWork, x: str) -> None:
    # Revoking a compromised key must stop it: the same key under a second kid would not stop.
    for other in uow.records.find(SourceKey):
        if other.public_jwk.get("x") == x:
            raise DuplicateKey(
                f"This public key is already registered as {other.source}/{other.kid}; "
                "a rotation needs a new key pair.",
                reason="key.material_reused",
                field="public_jwk.x",
            )


def _view(key: SourceKey) -> dict[str, Any]:
    return {
        "source": key.source,
        "kid": key.kid,
        "public_jwk": key.public_jwk,
        "valid_from": key.valid_from,
        "valid_until": key.valid_until,
        "registered_by": key.registered_by,
    }


def _revocation(key: SourceKey) -> dict[str, Any]:
    return {
        "revoked_at": key.revoked_at,
        "revoked_by": key.revoked_by,
        "revoke_reason": key.revoke_reason,
    }
