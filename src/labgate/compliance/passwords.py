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
    """Whether `password` matches; False for accounts without a password."""
    if password_hash is None:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_api_key() -> str:
    """A fresh API key, shown once to whoever creates it."""
    return "lgk_" + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """API keys are long random strings, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(key.encode()).hexdigest()
