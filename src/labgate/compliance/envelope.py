"""The signed envelope every channel carries: one JSON document, its signature a detached JWS
(RFC 7515 Appendix F) with an unencoded payload (RFC 7797), Ed25519, over the RFC 8785 canonical
JSON of the document without its "signature" member.

Because the signature covers the canonical form, member order and whitespace in transit do not
matter; any change of a name or value does. Parsing is strict (unknown members, duplicate keys,
wrong types are refused) so that what labgate verifies is exactly what every other reader sees.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import uuid6
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OKPKey

from labgate.compliance.canonical import canonical_json
from labgate.compliance.clock import as_utc
from labgate.compliance.keys import SourceKey
from labgate.domain.errors import InvalidInput

ALGORITHM: Final = "Ed25519"  # RFC 9864's fully specified name
# The older, polymorphic name: accepted only from a key registered with alg "EdDSA".
LEGACY_ALGORITHM: Final = "EdDSA"
SCHEMA_PATTERN = re.compile(r"labgate\.[a-z][a-z0-9_]*\.v[1-9][0-9]*")
# Sites, sources and streams: the same characters as business keys, and they fit the inbox.
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/%-]{0,63}")
# Key ids also name files and URL path segments: no slashes, no percent signs.
KID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DETACHED_JWS = re.compile(r"([A-Za-z0-9_-]+)\.\.([A-Za-z0-9_-]+)")
_MAX_SEQUENCE = 2**53 - 1  # the largest integer RFC 8785 represents exactly
_TEXT_LENGTH = 64
MEMBERS = frozenset(
    {"schema", "message_id", "correlation_id", "site", "source", "stream", "sequence", "sent_at"}
    | {"payload", "signature"}
)
_OPTIONAL = frozenset({"correlation_id"})
SIGNATURE_MEMBERS = frozenset({"alg", "kid", "jws"})
_HEADER_MEMBERS = frozenset({"alg", "b64", "crit", "kid"})
_TYPE_NAMES = {str: "a string", int: "an integer", dict: "an object"}


class EnvelopeError(InvalidInput):
    """An envelope that cannot be read, or whose signature does not check out."""

    default_reason = "envelope.malformed"


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope; `document` is the JSON object exactly as received."""

    schema: str
    message_id: str
    correlation_id: str | None
    site: str
    source: str
    stream: str
    sequence: int
    sent_at: datetime
    payload: dict[str, Any]
    kid: str
    jws: str
    document: dict[str, Any]
    _signed: bytes | None = field(default=None, repr=False, compare=False)

    def signing_bytes(self) -> bytes:
        """The canonical JSON (RFC 8785) of the document without its signature (made once, when
        the envelope is read: the document is not changed after that)."""
        if self._signed is None:
            object.__setattr__(self, "_signed", canonical_json(_unsigned(self.document)))
        assert self._signed is not None
        return self._signed


def parse_envelope(raw: bytes) -> Envelope:
    """Read an envelope strictly; raises EnvelopeError naming the member at fault."""
    doc = _load(raw)
    unknown = sorted(set(doc) - MEMBERS)
    if unknown:
        raise _malformed(unknown[0], f"The envelope member {unknown[0]!r} is not known.")
    signature = _member(doc, "signature", dict)
    envelope = Envelope(
        schema=_pattern(doc, "schema", SCHEMA_PATTERN),
        message_id=_message_id(_member(doc, "message_id", str)),
        correlation_id=_correlation_id(doc),
        site=_pattern(doc, "site", KEY_PATTERN),
        source=_pattern(doc, "source", KEY_PATTERN),
        stream=_pattern(doc, "stream", KEY_PATTERN),
        sequence=_sequence(_member(doc, "sequence", int)),
        sent_at=_sent_at(_member(doc, "sent_at", str)),
        payload=_member(doc, "payload", dict),
        kid=_signature_block(signature),
        jws=signature["jws"],
        document=doc,
    )
    try:
        envelope.signing_bytes()
    except ValueError as error:  # rfc8785: non-finite floats, unsafe integers
        raise _malformed("payload", f"The envelope has no canonical JSON form: {error}.") from None
    return envelope


def verify_envelope(envelope: Envelope, key: SourceKey) -> None:
    """Check the key is the source's, in force at sent_at, and that the signature holds."""
    if key.source != envelope.source or key.kid != envelope.kid:
        raise EnvelopeError(
            f"Key {key.source}/{key.kid} is not {envelope.source}'s key {envelope.kid}.",
            reason="envelope.unknown_key",
            field="signature.kid",
        )
    if key.revoked_at is not None:
        raise EnvelopeError(
            f"Key {key.kid} of {key.source} was revoked; sign with a key in force.",
            reason="envelope.revoked_key",
            field="signature.kid",
        )
    if not key.valid_at(envelope.sent_at):
        raise EnvelopeError(
            f"Key {key.kid} of {key.source} is not valid at {envelope.sent_at.isoformat()}.",
            reason="envelope.key_not_valid",
            field="sent_at",
        )
    algorithm = key_algorithm(key)
    _check_header(envelope, algorithm)
    try:
        public = _public_key(json.dumps(_key_material(key.public_jwk), sort_keys=True))
        with warnings.catch_warnings():
            # joserfc warns that EdDSA is deprecated; the key's registration chose it knowingly.
            warnings.simplefilter("ignore", SecurityWarning)
            jws.deserialize_compact(
                envelope.jws, public, algorithms=[algorithm], payload=envelope.signing_bytes()
            )
    except (JoseError, ValueError):
        raise EnvelopeError(
            "The signature does not match the envelope's content.",
            reason="envelope.bad_signature",
            field="signature.jws",
        ) from None


def key_algorithm(key: SourceKey) -> str:
    """The `alg` this key's envelopes carry: Ed25519, or EdDSA where the key was registered so."""
    return LEGACY_ALGORITHM if key.public_jwk.get("alg") == LEGACY_ALGORITHM else ALGORITHM


def _key_material(jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: jwk[name] for name in ("kty", "crv", "x")}


@functools.lru_cache(maxsize=256)
def _public_key(jwk: str) -> OKPKey:
    # Imported once per key (keyed by its JSON): a stream of envelopes has one or two signers.
    return OKPKey.import_key(json.loads(jwk))


def sign_envelope(fields: dict[str, Any], kid: str, private_jwk: dict[str, Any]) -> dict[str, Any]:
    """The document `fields` with its signature; refused if labgate would not accept it."""
    if "signature" in fields:
        raise _malformed("signature", "The fields to sign already carry a signature.")
    if "d" not in private_jwk:
        raise ValueError("Signing needs the private JWK (with its 'd' member).")
    header = {"alg": ALGORITHM, "b64": False, "crit": ["b64"], "kid": kid}
    key = OKPKey.import_key(private_jwk)
    token = jws.serialize_compact(header, canonical_json(fields), key, algorithms=[ALGORITHM])
    signature = {"alg": ALGORITHM, "kid": kid, "jws": jws.detach_content(token)}
    # Returned as a receiver parses it: checked, and sharing no object with the caller's fields.
    return parse_envelope(encode({**fields, "signature": signature})).document


def build_envelope(
    schema: str,
    site: str,
    source: str,
    stream: str,
    sequence: int,
    payload: dict[str, Any],
    *,
    kid: str,
    private_jwk: dict[str, Any],
    sent_at: datetime,
    correlation_id: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """A signed envelope; the message id is a fresh UUIDv7 unless given."""
    if sent_at.tzinfo is None:
        raise ValueError("sent_at must be timezone-aware; pass a UTC datetime.")
    fields: dict[str, Any] = {
        "schema": schema,
        "message_id": message_id or str(uuid6.uuid7()),
        "site": site,
        "source": source,
        "stream": stream,
        "sequence": sequence,
        "sent_at": as_utc(sent_at).isoformat().replace("+00:00", "Z"),
        "payload": payload,
    }
    if correlation_id is not None:
        fields["correlation_id"] = correlation_id
    return sign_envelope(fields, kid, private_jwk)


def generate_keypair() -> tuple[dict[str, Any], dict[str, Any]]:
    """A new Ed25519 key pair as JWKs: (private, public)."""
    key = OKPKey.generate_key(ALGORITHM)
    return dict(key.as_dict(private=True)), dict(key.as_dict(private=False))


def encode(document: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, for senders (any order and spacing verifies the same)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _unsigned(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name != "signature"}


def _malformed(field: str | None, message: str) -> EnvelopeError:
    return EnvelopeError(message, reason="envelope.malformed", field=field)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two readers of {"a": 1, "a": 2} may see different values: refuse rather than pick one.
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:
            raise _malformed(name, f"The member {name!r} appears twice.")
        found[name] = value
    return found


def _no_constant(name: str) -> Any:
    raise _malformed(None, f"{name} is not JSON.")


def _strict_json(text: str | bytes) -> Any:
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _load(raw: bytes) -> dict[str, Any]:
    try:
        doc = _strict_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _malformed(None, "The envelope is not UTF-8 text.") from None
    except (ValueError, RecursionError) as error:
        raise _malformed(None, f"The envelope is not JSON: {error}.") from None
    if not isinstance(doc, dict):
        raise _malformed(None, "The envelope must be a JSON object.")
    return doc


def _member(doc: dict[str, Any], name: str, kind: type, prefix: str = "") -> Any:
    if name not in doc:
        raise _malformed(prefix + name, f"The envelope has no {prefix + name!r} member.")
    value = doc[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _malformed(prefix + name, f"{prefix + name} must be {_TYPE_NAMES[kind]}.")
    return value


def _pattern(doc: dict[str, Any], name: str, pattern: re.Pattern[str], prefix: str = "") -> str:
    value: str = _member(doc, name, str, prefix)
    if not pattern.fullmatch(value) or len(value) > _TEXT_LENGTH:
        raise _malformed(prefix + name, f"{prefix + name} {value!r} is not of the form expected.")
    return value


def _message_id(text: str) -> str:
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        parsed = None
    # Only the canonical lower-case text: the message id is the de-duplication key.
    if parsed is None or parsed.version != 7 or str(parsed) != text:
        raise EnvelopeError(
            f"message_id {text!r} is not a UUID version 7 in its canonical form.",
            reason="envelope.bad_message_id",
            field="message_id",
        )
    return text


def _correlation_id(doc: dict[str, Any]) -> str | None:
    value = doc.get("correlation_id")
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= _TEXT_LENGTH or not value.isprintable():
        raise _malformed("correlation_id", "correlation_id must be printable text of 1 to 64.")
    return value


def _sequence(value: int) -> int:
    if not 1 <= value <= _MAX_SEQUENCE:
        raise _malformed("sequence", f"sequence must be from 1 to {_MAX_SEQUENCE}.")
    return value


def _sent_at(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _malformed("sent_at", f"sent_at {text!r} is not an ISO-8601 time with a zone.")
    return moment


def _signature_block(signature: dict[str, Any]) -> str:
    unknown = sorted(set(signature) - SIGNATURE_MEMBERS)
    if unknown:
        raise _malformed(f"signature.{unknown[0]}", f"signature.{unknown[0]} is not known.")
    _member(signature, "alg", str, "signature.")
    if not _DETACHED_JWS.fullmatch(_member(signature, "jws", str, "signature.")):
        raise _malformed("signature.jws", "signature.jws must be a detached compact JWS.")
    return _pattern(signature, "kid", KID_PATTERN, "signature.")


def _protected_header(token: str) -> dict[str, Any]:
    segment = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        header = _strict_json(decoded.decode()) if _b64url(decoded) == segment else None
    except (ValueError, RecursionError, EnvelopeError):
        header = None
    if not isinstance(header, dict):
        raise _malformed("signature.jws", "The JWS protected header is not a JSON object.")
    return header


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _check_header(envelope: Envelope, algorithm: str) -> None:
    header = _protected_header(envelope.jws)
    expected = {"alg": algorithm, "b64": False, "crit": ["b64"], "kid": envelope.kid}
    problems = [
        f"{name} is {header.get(name)!r}, not {want!r}"
        for name, want in expected.items()
        if header.get(name) != want or type(header.get(name)) is not type(want)
    ]
    problems += [f"{name} is not accepted" for name in sorted(set(header) - _HEADER_MEMBERS)]
    field = "signature.kid" if header.get("kid") != envelope.kid else "signature.jws"
    if envelope.document["signature"]["alg"] != algorithm:
        problems.insert(0, f"signature.alg is not {algorithm}")
        field = "signature.alg"
    if problems:
        raise EnvelopeError(
            f"The signature is refused: {'; '.join(problems)}; labgate accepts only "
            f"{algorithm} (this key's alg) with an unencoded payload (b64 false) under the "
            "envelope's kid.",
            reason="envelope.bad_algorithm",
            field=field,
        )
