"""Accounts as GET /api/v1/accounts lists them, and when each person last signed in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.compliance.access import Account


def accounts_query(after: str | None = None) -> Select[Any]:
    """Every account, active or not, by user id (after `after`, for a page)."""
    query = select(Account).order_by(t.accounts.c.username)
    return query if after is None else query.where(t.accounts.c.username > after)


def account_item(account: Account, now: datetime) -> dict[str, Any]:
    """One account as the list shows it; a lock ends by itself, so `locked` is as of `now`."""
    return {
        "username": account.username,
        "printed_name": account.printed_name,
        "kind": account.kind,
        "roles": account.roles,
        "active": account.active,
        "locked": account.is_locked(now),
        "password_change_required": account.must_change_password,
    }


def last_sign_in(session: Session, username: str) -> datetime | None:
    """When the person last signed in, as the trail recorded it (None: never)."""
    a = t.audit_entries.c
    query = select(func.max(a.at)).where(
        a.record_type == "account", a.record_id == username, a.action == "auth.signed_in"
    )
    found: datetime | None = session.scalar(query)
    return found
