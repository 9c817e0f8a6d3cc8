"""Commands of account administration beyond creation: roles and passwords (Annex 11 §12.3)."""

from __future__ import annotations

from dataclasses import dataclass, field

from labgate.domain.commands import Command


@dataclass(frozen=True)
class SetRoles(Command):
    """Replace an account's roles, with a reason; the site's role policy applies."""

    username: str
    roles: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class SetPassword(Command):
    """An administrator sets a person's password: always temporary, changed at first sign-in."""

    username: str
    password: str = field(repr=False)
    reason: str


@dataclass(frozen=True)
class ChangePassword(Command):
    """A person replaces their own password, proving the current one."""

    username: str
    current_password: str = field(repr=False)
    new_password: str = field(repr=False)


@dataclass(frozen=True)
class SignOut(Command):
    """A person's console session ends: signed out, or timed out for want of activity."""

    username: str
    why: str


@dataclass(frozen=True)
class IssueApiKey(Command):
    """A system account gets a new API key, with a reason; the one it replaces stops working."""

    username: str
    api_key: str = field(repr=False)
    reason: str
