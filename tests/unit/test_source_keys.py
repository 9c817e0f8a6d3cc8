"""Source keys: registered with their validity, audited, revoked for good; rotation is simply two
keys of one source valid at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fakes import FakeUnitOfWork, ManualClock, TableUnits
from labgate.compliance.access import Account
from labgate.compliance.envelope import (
    Envelope,
    EnvelopeError,
    build_envelope,
    encode,
    generate_keypair,
    parse_envelope,
    verify_envelope,
)
from labgate.compliance.keys import SourceKey
from labgate.domain.commands import Context
from labgate.domain.errors import Conflict, DuplicateKey, InvalidInput, NotFound
from labgate.domain.interface_commands import RegisterSourceKey, RevokeSourceKey
from labgate.service.deps import Deps
from labgate.service.handlers.keys import register_source_key, revoke_source_key, usable_key

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
JANUARY = datetime(2026, 1, 1, tzinfo=UTC)
ADMIN = Context("admin")
PRIVATE, PUBLIC = generate_keypair()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    """A store with the LIMS system account and one person."""
    fake = FakeUnitOfWork()
    fake.records.add(Account("lims", "LIMS", ["lims_system"], kind="system"))
    fake.records.add(Account("ana", "Ana", ["qc_analyst"]))
    return fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(AT)


@pytest.fixture
def deps(clock: ManualClock) -> Deps:
    return Deps(clock, lambda _e: TableUnits({}))


def registration(**changes: Any) -> RegisterSourceKey:
    """LIMS's key lims-2026-1, valid from January, unless changed."""
    fields: dict[str, Any] = {
        "ctx": ADMIN,
        "source": "lims",
        "kid": "lims-2026-1",
        "public_jwk": PUBLIC,
        "valid_from": JANUARY,
        "valid_until": None,
        "reason": "CR-7: LIMS go-live",
    }
    return RegisterSourceKey(**(fields | changes))


def refused(error: type[Exception], call: Any, *args: Any) -> tuple[str, str | None]:
    """Reason code and field of a refusal."""
    with pytest.raises(error) as caught:
        call(*args)
    return caught.value.reason, caught.value.field  # type: ignore[attr-defined]


def test_a_registered_key_is_stored_and_audited(uow: FakeUnitOfWork, deps: Deps) -> None:
    assert register_source_key(registration(), uow, deps) == "lims/lims-2026-1"
    key = uow.records.get(SourceKey, source="lims", kid="lims-2026-1")
    assert key is not None and key.public_jwk == PUBLIC
    assert (key.registered_by, key.registered_at, key.valid_at(AT)) == ("admin", AT, True)
    assert uow.committed == 1
    [entry] = uow.audit_log
    assert (entry.action, entry.record_type, entry.record_id) == (
        "source_key.registered",
        "source_key",
        "lims/lims-2026-1",
    )
    assert entry.reason == "CR-7: LIMS go-live" and entry.after is not None
    assert entry.after["public_jwk"] == PUBLIC


def test_a_jwk_may_name_its_own_kid_but_not_another(uow: FakeUnitOfWork, deps: Deps) -> None:
    register_source_key(registration(public_jwk=PUBLIC | {"kid": "lims-2026-1"}), uow, deps)
    key = uow.records.get(SourceKey, kid="lims-2026-1")
    assert key is not None and "kid" not in key.public_jwk
    _, other = generate_keypair()
    command = registration(kid="lims-2026-2", public_jwk=other | {"kid": "lims-2027-1"})
    assert refused(InvalidInput, register_source_key, command, uow, deps) == (
        "key.bad_jwk",
        "public_jwk.kid",
    )


def test_a_key_id_is_never_registered_twice(uow: FakeUnitOfWork, deps: Deps) -> None:
    register_source_key(registration(), uow, deps)
    _, other = generate_keypair()
    command = registration(public_jwk=other)
    assert refused(DuplicateKey, register_source_key, command, uow, deps) == (
        "key.duplicate",
        "kid",
    )
    assert uow.committed == 1


def test_the_same_key_material_is_not_registered_under_a_second_kid(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    register_source_key(registration(), uow, deps)
    command = registration(kid="lims-2026-2")
    assert refused(DuplicateKey, register_source_key, command, uow, deps) == (
        "key.material_reused",
        "public_jwk.x",
    )


def test_a_private_key_is_refused(uow: FakeUnitOfWork, deps: Deps) -> None:
    command = registration(public_jwk=PRIVATE)
    assert refused(InvalidInput, register_source_key, command, uow, deps) == (
        "key.private_material",
        "public_jwk",
    )
    assert uow.committed == 0 and uow.records.find(SourceKey) == []


@pytest.mark.parametrize(
    ("jwk", "member"),
    [
        ({"kty": "OKP", "crv": "X25519", "x": PUBLIC["x"]}, "crv"),
        ({"kty": "RSA", "n": "abc", "e": "AQAB"}, "e"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}, "x"),
        ({"kty": "OKP", "crv": "Ed25519"}, "x"),
        (PUBLIC | {"use": "enc"}, "use"),
        (PUBLIC | {"x5c": ["MIIB"]}, "x5c"),
    ],
    ids=["X25519", "RSA", "short x", "no x", "use enc", "unknown member"],
)
def test_only_ed25519_public_jwks_are_accepted_and_the_refused_member_is_named(
    uow: FakeUnitOfWork, deps: Deps, jwk: dict[str, Any], member: str
) -> None:
    command = registration(public_jwk=jwk)
    assert refused(InvalidInput, register_source_key, command, uow, deps) == (
        "key.bad_jwk",
        f"public_jwk.{member}",
    )


@pytest.mark.requirement("URS-P11-11.10h", category="negative")
@pytest.mark.parametrize("source", ["nobody", "ana"], ids=["unknown", "a person"])
def test_keys_belong_to_known_system_accounts(uow: FakeUnitOfWork, deps: Deps, source: str) -> None:
    command = registration(source=source)
    assert refused(NotFound, register_source_key, command, uow, deps) == (
        "source.unknown",
        "source",
    )


BAD_INPUT = {
    "no reason": ({"reason": "  "}, ("input.reason_required", "reason")),
    "kid with a slash": ({"kid": "../lims"}, ("key.bad_kid", "kid")),
    "ends before it starts": ({"valid_until": JANUARY}, ("key.bad_validity", "valid_until")),
    "naive start": ({"valid_from": datetime(2026, 1, 1)}, ("key.bad_validity", "valid_from")),
}


@pytest.mark.parametrize("changes, expected", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_registrations_are_checked(
    uow: FakeUnitOfWork, deps: Deps, changes: dict[str, Any], expected: tuple[str, str]
) -> None:
    command = registration(**changes)
    assert refused(InvalidInput, register_source_key, command, uow, deps) == expected


def test_a_revoked_key_is_audited_before_and_after(
    uow: FakeUnitOfWork, deps: Deps, clock: ManualClock
) -> None:
    register_source_key(registration(), uow, deps)
    revoked_at = clock.advance(hours=1)
    revoke = RevokeSourceKey(ADMIN, "lims", "lims-2026-1", "INC-42: key leaked")
    assert revoke_source_key(revoke, uow, deps) == "lims/lims-2026-1"
    key = uow.records.get(SourceKey, kid="lims-2026-1")
    assert key is not None
    assert (key.revoked_at, key.revoked_by, key.revoke_reason) == (
        revoked_at,
        "admin",
        "INC-42: key leaked",
    )
    entry = uow.audit_log[-1]
    assert (entry.action, entry.record_id, entry.reason) == (
        "source_key.revoked",
        "lims/lims-2026-1",
        "INC-42: key leaked",
    )
    assert entry.before == {"revoked_at": None, "revoked_by": None, "revoke_reason": None}
    assert entry.after is not None and entry.after["revoked_by"] == "admin"


def test_a_key_is_revoked_once(uow: FakeUnitOfWork, deps: Deps) -> None:
    register_source_key(registration(), uow, deps)
    revoke = RevokeSourceKey(ADMIN, "lims", "lims-2026-1", "INC-42: key exposed")
    revoke_source_key(revoke, uow, deps)
    assert refused(Conflict, revoke_source_key, revoke, uow, deps) == (
        "key.already_revoked",
        "kid",
    )
    assert uow.committed == 2


def test_revoking_an_unknown_key_names_it(uow: FakeUnitOfWork, deps: Deps) -> None:
    revoke = RevokeSourceKey(ADMIN, "lims", "lims-1999-1", "INC-42: key exposed")
    assert refused(NotFound, revoke_source_key, revoke, uow, deps) == (
        "source_key.unknown",
        "kid",
    )


def test_rotation_is_two_keys_valid_at_once_until_the_old_one_is_revoked(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    new_private, new_public = generate_keypair()
    register_source_key(registration(), uow, deps)
    register_source_key(
        registration(kid="lims-2026-2", public_jwk=new_public, valid_from=AT - timedelta(days=5)),
        uow,
        deps,
    )
    old, new = envelope("lims-2026-1", PRIVATE), envelope("lims-2026-2", new_private)
    with uow:
        keys = [usable_key(uow, "lims", e.kid) for e in (old, new)]
    assert [k.valid_at(AT) for k in keys] == [True, True]
    verify_envelope(old, keys[0])
    verify_envelope(new, keys[1])
    revoke_source_key(
        RevokeSourceKey(ADMIN, "lims", "lims-2026-1", "rotated on schedule"), uow, deps
    )
    assert [k.valid_at(AT) for k in keys] == [False, True]
    with pytest.raises(EnvelopeError) as error:
        verify_envelope(old, keys[0])
    assert error.value.reason == "envelope.revoked_key"
    verify_envelope(new, keys[1])


@pytest.mark.requirement("URS-P11-11.10h", category="negative")
def test_an_unregistered_key_id_is_an_unknown_key(uow: FakeUnitOfWork) -> None:
    with uow:
        assert refused(EnvelopeError, usable_key, uow, "lims", "lims-1999-1") == (
            "envelope.unknown_key",
            "signature.kid",
        )


def envelope(kid: str, private_jwk: dict[str, Any]) -> Envelope:
    """A result envelope from the LIMS signed with `kid`."""
    document = build_envelope(
        "labgate.result.v1",
        "T1",
        "lims",
        "results",
        1,
        {"value": "99.4"},
        kid=kid,
        private_jwk=private_jwk,
        sent_at=AT,
    )
    return parse_envelope(encode(document))
