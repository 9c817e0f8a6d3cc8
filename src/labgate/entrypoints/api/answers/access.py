"""The answers of sign-in, the account administration, partner identities, source keys and the
administrators' alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from labgate.compliance.access import Permission, Role
from labgate.entrypoints.api.wire import Answer, Code, Count

AccountKind = Literal["person", "system"]
# Times these answers take straight from the store are rendered by pydantic, as they always were
# (`2026-11-25T10:00:00Z`): typed as datetimes so the wire stays byte for byte what it was.
StoredTime = Annotated[datetime, Field(description="UTC, ISO 8601.")]


class TokenAnswer(Answer):
    """An OAuth2 access token response (RFC 6749 §5.1), and whether the password must change."""

    access_token: str = Field(description="A bearer token (JWT) for the `Authorization` header.")
    token_type: Literal["bearer"]
    expires_in: Count = Field(description="Seconds the token is valid from now.")
    password_change_required: bool = Field(
        description="A temporary password: the token serves `/me` and the password change only."
    )


class MeAnswer(Answer):
    """The signed-in account: who it is and what it may do."""

    username: Code
    printed_name: str
    kind: AccountKind
    roles: list[Role]
    permissions: list[Permission] = Field(description="What the roles grant, sorted.")
    password_change_required: bool


class PasswordState(Answer):
    """An account's password was set or changed; whether it must be changed before anything."""

    username: Code
    password_change_required: bool


class AccountCreated(Answer):
    """A new account; a system account's API key is shown in this answer only."""

    username: Code
    kind: AccountKind
    api_key: str | None = Field(
        description="The system account's API key, never shown again; null for a person."
    )


class AccountItem(Answer):
    """An account in the administrators' list (accounts are never deleted)."""

    username: Code
    printed_name: str
    kind: AccountKind
    roles: list[Role]
    active: bool
    locked: bool = Field(description="Locked now after failed attempts; the lock ends by itself.")
    password_change_required: bool


class AccountRoles(Answer):
    """An account's roles after the change."""

    username: Code
    roles: list[Role]


class ApiKeyIssued(Answer):
    """A system account's new API key, shown in this answer only; the old one no longer works."""

    username: Code
    api_key: str = Field(description="The new API key, never shown again.")


class AccountStateChanged(Answer):
    """What was done to the account."""

    username: Code
    action: Literal["unlock", "deactivate", "reactivate"]


class IdentityMapping(Answer):
    """Which labgate account a source system means by one of its person ids."""

    source: Code
    external_id: Code = Field(description="The person's id in the source system.")
    account: Code = Field(description="The labgate account it means.")
    active: bool = Field(description="False once withdrawn: results naming the id are refused.")
    mapped_by: Code
    mapped_at: StoredTime
    reason: str


class PublicJwk(Answer):
    """An Ed25519 public key as registered: only its public members are kept."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="The 32-byte public key, base64url without padding.")
    # Present only on a key whose partner's library signs under the older algorithm name.
    alg: Literal["EdDSA"] | None = Field(None, exclude_if=lambda value: value is None)


class KeyRegistered(Answer):
    """The source key now registered."""

    source: Code
    kid: Code


class KeyRevoked(Answer):
    """The source key is revoked for good."""

    source: Code
    kid: Code
    revoked: Literal[True]


class SourceKeyItem(Answer):
    """A source system's signing key, its validity window and whether it is in force now."""

    kid: Code
    public_jwk: PublicJwk
    valid_from: StoredTime
    valid_until: StoredTime | None
    registered_by: Code
    registered_at: StoredTime
    revoked_at: StoredTime | None
    revoked_by: Code | None
    revoke_reason: str | None
    in_force: bool = Field(description="Valid now and not revoked.")


class NotificationItem(Answer):
    """An alert for the administrators; the audit trail holds the same event."""

    id: int = Field(ge=1, le=2**63 - 1, description="Pass as `after_id` to read on from here.")
    raised_at: StoredTime
    # The one alert labgate raises today (service/refusals.py); a new kind is added here too.
    kind: Literal["account.locked"]
    record_type: Literal["account"]
    record_id: Code = Field(description="The account's user id.")
    message: str
