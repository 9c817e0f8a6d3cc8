"""The signed envelope: what is signed verifies, any change does not, and every way an envelope
can be wrong is refused with its own reason code and the member at fault."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import OKPKey

from labgate.compliance.canonical import canonical_json
from labgate.compliance.envelope import (
    Envelope,
    EnvelopeError,
    build_envelope,
    encode,
    generate_keypair,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from labgate.compliance.keys import SourceKey

KID = "lims-2026-1"
SENT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PRIVATE, PUBLIC = generate_keypair()
PAYLOAD = {"sample": "S-000001", "test_code": "ASSAY", "value": "99.4", "unit": "%"}


def key(**changes: Any) -> SourceKey:
    """LIMS's key, valid from January, unless changed."""
    fields: dict[str, Any] = {
        "source": "lims",
        "kid": KID,
        "public_jwk": PUBLIC,
        "valid_from": datetime(2026, 1, 1, tzinfo=UTC),
        "registered_by": "admin",
        "registered_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return SourceKey(**(fields | changes))


def signed(**changes: Any) -> dict[str, Any]:
    """A signed result envelope from the LIMS."""
    arguments: dict[str, Any] = {
        "schema": "labgate.result.v1",
        "site": "T1",
        "source": "lims",
        "stream": "results",
        "sequence": 1,
        "payload": PAYLOAD,
        "kid": KID,
        "private_jwk": PRIVATE,
        "sent_at": SENT,
        "correlation_id": "trace-1",
    }
    return build_envelope(**(arguments | changes))


def refusal(raw: bytes, verify_with: SourceKey | None = None) -> tuple[str, str | None]:
    """The reason code and field an envelope is refused with."""
    with pytest.raises(EnvelopeError) as refused:
        envelope = parse_envelope(raw)
        verify_envelope(envelope, verify_with or key())
    return refused.value.reason, refused.value.field


def edited(change: Callable[[dict[str, Any]], object]) -> bytes:
    """A signed envelope, changed after signing."""
    document = signed()
    change(document)
    return encode(document)


def resigned(header: dict[str, Any], **signature: str) -> bytes:
    """An envelope signed with the right key under another protected header."""
    document = signed()
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    token = jws.serialize_compact(
        header, canonical_json(unsigned), OKPKey.import_key(PRIVATE), algorithms=["Ed25519"]
    )
    document["signature"] = document["signature"] | {"jws": jws.detach_content(token)} | signature
    return encode(document)


def test_what_is_signed_parses_and_verifies() -> None:
    document = signed()
    envelope = parse_envelope(encode(document))
    verify_envelope(envelope, key())
    assert isinstance(envelope, Envelope)
    assert (envelope.source, envelope.stream, envelope.sequence) == ("lims", "results", 1)
    assert envelope.sent_at == SENT and envelope.payload == PAYLOAD
    assert envelope.kid == KID and envelope.correlation_id == "trace-1"
    assert envelope.document == document
    assert uuid.UUID(envelope.message_id).version == 7
    assert document["sent_at"] == "2026-11-25T09:00:00Z"
    segment = envelope.jws.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert header == {"alg": "Ed25519", "b64": False, "crit": ["b64"], "kid": KID}


@pytest.mark.requirement("URS-P11-11.30")
def test_the_signature_covers_the_canonical_form_not_the_bytes_in_transit() -> None:
    document = signed()
    reordered = dict(reversed(list(document.items())))
    reordered["payload"] = dict(reversed(list(PAYLOAD.items())))
    raw = json.dumps(reordered, indent=3, ensure_ascii=True).encode()
    assert raw != encode(document)
    verify_envelope(parse_envelope(raw), key())


@pytest.mark.requirement("URS-P11-11.10a", category="negative")
def test_one_changed_character_of_the_payload_breaks_the_signature() -> None:
    raw = encode(signed()).replace(b'"99.4"', b'"99.5"')
    assert refusal(raw) == ("envelope.bad_signature", "signature.jws")


@pytest.mark.requirement("URS-P11-11.70", category="negative")
def test_a_signature_moved_onto_another_envelope_does_not_verify() -> None:
    first, second = signed(), signed(sequence=2)
    second["signature"] = first["signature"]
    assert refusal(encode(second)) == ("envelope.bad_signature", "signature.jws")


MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], object], str | None]] = {
    "missing member": (lambda d: d.pop("sequence"), "sequence"),
    "text for a number": (lambda d: d.update(sequence="1"), "sequence"),
    "boolean for a number": (lambda d: d.update(sequence=True), "sequence"),
    "sequence zero": (lambda d: d.update(sequence=0), "sequence"),
    "sequence beyond JSON's exact integers": (lambda d: d.update(sequence=2**53), "sequence"),
    "schema of another form": (lambda d: d.update(schema="labgate.result.1"), "schema"),
    "schema with a trailing newline": (lambda d: d.update(schema="labgate.result.v1\n"), "schema"),
    "unknown member": (lambda d: d.update(priority="high"), "priority"),
    "unknown signature member": (lambda d: d["signature"].update(x5c="..."), "signature.x5c"),
    "signature without kid": (lambda d: d["signature"].pop("kid"), "signature.kid"),
    "attached JWS": (lambda d: d["signature"].update(jws="a.b.c"), "signature.jws"),
    "time without zone": (lambda d: d.update(sent_at="2026-11-25T09:00:00"), "sent_at"),
    "date for a time": (lambda d: d.update(sent_at="25.11.2026"), "sent_at"),
    "payload not an object": (lambda d: d.update(payload=[1]), "payload"),
    "payload beyond JSON's exact integers": (lambda d: d["payload"].update(n=2**60), "payload"),
    "site too long": (lambda d: d.update(site="T" * 65), "site"),
    "source with a space": (lambda d: d.update(source="li ms"), "source"),
    "correlation id too long": (lambda d: d.update(correlation_id="c" * 65), "correlation_id"),
}


@pytest.mark.parametrize("change, field", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_envelopes_name_the_member(
    change: Callable[[dict[str, Any]], object], field: str
) -> None:
    assert refusal(edited(change)) == ("envelope.malformed", field)


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe{}", b'{"payload": NaN}', b"\xef\xbb\xbf{}"],
    ids=["not JSON", "array", "string", "not UTF-8", "NaN", "byte order mark"],
)
def test_what_is_not_a_json_object_is_refused(raw: bytes) -> None:
    assert refusal(raw) == ("envelope.malformed", None)


@pytest.mark.requirement("URS-P11-11.30", category="boundary")
def test_a_payload_number_beyond_floats_is_refused() -> None:
    raw = encode(signed()).replace(b'"99.4"', b"1e400")
    assert refusal(raw) == ("envelope.malformed", "payload")


@pytest.mark.parametrize("where", ["top level", "payload"])
def test_duplicate_keys_are_refused(where: str) -> None:
    raw = encode(signed())
    if where == "top level":
        raw = raw.replace(b'"sequence":1', b'"sequence":1,"sequence":2')
        expected = "sequence"
    else:
        raw = raw.replace(b'"value":"99.4"', b'"value":"99.4","value":"101.0"')
        expected = "value"
    assert refusal(raw) == ("envelope.malformed", expected)


@pytest.mark.parametrize(
    "message_id",
    [str(uuid.uuid4()), "01a210da-2fde-711a-98fd-a415291b0db3".upper(), "not-a-uuid",
     "01a210da2fde711a98fda415291b0db3", "{01a210da-2fde-711a-98fd-a415291b0db3}"],
    ids=["version 4", "upper case", "not a UUID", "without hyphens", "braces"],
)  # fmt: skip
def test_message_ids_are_canonical_uuid7(message_id: str) -> None:
    raw = edited(lambda d: d.update(message_id=message_id))
    assert refusal(raw) == ("envelope.bad_message_id", "message_id")


def test_a_message_id_is_fresh_uuid7_unless_given() -> None:
    given = "01a210da-2fde-711a-98fd-a415291b0db3"
    assert signed(message_id=given)["message_id"] == given
    assert signed()["message_id"] != signed()["message_id"]


@pytest.mark.parametrize(
    "verify_with",
    [key(kid="lims-2026-2"), key(source="mes")],
    ids=["another key id", "another source's key"],
)
def test_a_key_that_is_not_the_envelopes_is_an_unknown_key(verify_with: SourceKey) -> None:
    assert refusal(encode(signed()), verify_with) == ("envelope.unknown_key", "signature.kid")


@pytest.mark.requirement("URS-P11-11.10h", category="negative")
def test_a_revoked_key_verifies_nothing() -> None:
    revoked = key(revoked_at=SENT + timedelta(days=1), revoked_by="admin", revoke_reason="leak")
    assert refusal(encode(signed()), revoked) == ("envelope.revoked_key", "signature.kid")


@pytest.mark.requirement("URS-P11-11.10h", category="boundary")
@pytest.mark.parametrize(
    "verify_with",
    [key(valid_from=SENT + timedelta(seconds=1)), key(valid_until=SENT)],
    ids=["before valid_from", "at valid_until"],
)
def test_a_key_outside_its_validity_is_refused(verify_with: SourceKey) -> None:
    assert refusal(encode(signed()), verify_with) == ("envelope.key_not_valid", "sent_at")


BAD_HEADERS: dict[str, tuple[dict[str, Any], str]] = {
    "b64 true": ({"alg": "Ed25519", "b64": True, "crit": ["b64"], "kid": KID}, "signature.jws"),
    "b64 absent": ({"alg": "Ed25519", "kid": KID}, "signature.jws"),
    "kid of another key": (
        {"alg": "Ed25519", "b64": False, "crit": ["b64"], "kid": "lims-2025-9"},
        "signature.kid",
    ),
    "extra member": (
        {"alg": "Ed25519", "b64": False, "crit": ["b64"], "kid": KID, "x5u": "https://x"},
        "signature.jws",
    ),
}


@pytest.mark.requirement("URS-P11-11.30", category="negative")
@pytest.mark.parametrize("header, field", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_protected_headers_other_than_unencoded_ed25519_are_refused(
    header: dict[str, Any], field: str
) -> None:
    assert refusal(resigned(header)) == ("envelope.bad_algorithm", field)


def test_the_signature_block_must_name_ed25519() -> None:
    raw = edited(lambda d: d["signature"].update(alg="EdDSA"))
    assert refusal(raw) == ("envelope.bad_algorithm", "signature.alg")


def test_a_protected_header_that_is_not_json_is_malformed() -> None:
    raw = edited(lambda d: d["signature"].update(jws="bm90IGpzb24..c2ln"))
    assert refusal(raw) == ("envelope.malformed", "signature.jws")


def test_a_signature_by_another_key_fails() -> None:
    other_private, _ = generate_keypair()
    raw = encode(signed(private_jwk=other_private))
    assert refusal(raw) == ("envelope.bad_signature", "signature.jws")


def test_signing_needs_the_private_key_and_unsigned_fields() -> None:
    fields = {k: v for k, v in signed().items() if k != "signature"}
    with pytest.raises(ValueError, match="private JWK"):
        sign_envelope(fields, KID, PUBLIC)
    with pytest.raises(EnvelopeError):
        sign_envelope(signed(), KID, PRIVATE)


def test_senders_cannot_build_what_labgate_would_refuse() -> None:
    with pytest.raises(EnvelopeError) as refused:
        signed(sequence=0)
    assert (refused.value.reason, refused.value.field) == ("envelope.malformed", "sequence")
    with pytest.raises(ValueError, match="timezone"):
        signed(sent_at=datetime(2026, 11, 25, 9, 0))


def test_encode_is_compact_utf8() -> None:
    assert encode({"a": "µ", "b": [1, 2]}) == '{"a":"µ","b":[1,2]}'.encode()


def test_generated_keys_are_an_ed25519_pair() -> None:
    private, public = generate_keypair()
    assert {private["kty"], private["crv"]} == {"OKP", "Ed25519"}
    assert "d" in private and "d" not in public and public["x"] == private["x"]
