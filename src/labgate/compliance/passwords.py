"""Password and API-key handling: argon2 for passwords, SHA-256 for random API keys."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; False for accounts without a password, after verifying
    against a dummy hash: the answer takes as long either way (no user id enumeration)."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    """A hash of a random secret at the current hasher's cost, made once per hasher."""
    global _dummy
    if _dummy is None or _dummy[0] is not _hasher:
        _dummy = (_hasher, _hasher.hash(secrets.token_urlsafe(32)))
    return _dummy[1]


_dummy: tuple[PasswordHasher, str] | None = None


def new_api_key() -> str:
    """A fresh API key, shown once to whoever creates it."""
    return "lgk_" + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """API keys are long random strings, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(key.encode()).hexdigest()
