"""Detached signatures over exact bytes (a B2MML document, a file): a compact JWS with an
unencoded payload (RFC 7797), Ed25519 — the same form as the envelope's signature, over the
bytes as sent rather than a canonical JSON form, since XML has no canonical form we rely on."""

from __future__ import annotations

from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from labgate.compliance.envelope import ALGORITHM, EnvelopeError


def sign_detached(data: bytes, kid: str, private_jwk: dict[str, Any]) -> str:
    """`header..signature`: the JWS with its payload left out (the receiver has the bytes)."""
    header = {"alg": ALGORITHM, "b64": False, "crit": ["b64"], "kid": kid}
    token = jws.serialize_compact(header, data, OKPKey.import_key(private_jwk), [ALGORITHM])
    return jws.detach_content(token)


def verify_detached(data: bytes, token: str, public_jwk: dict[str, Any]) -> None:
    """Raise EnvelopeError unless `token` is a good Ed25519 signature of exactly `data`."""
    try:
        jws.deserialize_compact(token, OKPKey.import_key(public_jwk), [ALGORITHM], payload=data)
    except (JoseError, ValueError):
        raise EnvelopeError(
            "The detached signature does not match the document's bytes.",
            reason="envelope.bad_signature",
            field="signature",
        ) from None
