"""Keyset pages sorted by a column: (column, id) after the last row served, so a page costs
the rows it shows however deep it is, and a row inserted meanwhile never repeats one."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_
from sqlalchemy.orm import Session

from labgate.adapters.store.lists import Slice
from labgate.domain.errors import InvalidInput


def encode(sort: str, value: str | None, last_id: int) -> str:
    """The opaque cursor after a row: its sort, its sort value, its id."""
    raw = json.dumps({"sort": sort, "value": value, "after": last_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(sort: str, cursor: str | None) -> tuple[str | None, int] | None:
    """(sort value, id) to continue after; refused if the cursor is not this sort's."""
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value, after = data["value"], data["after"]
        ok = data["sort"] == sort and (value is None or isinstance(value, str))
    except (binascii.Error, ValueError, TypeError, KeyError):
        ok, value, after = False, None, None
    if not ok or not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**63:
        raise InvalidInput(
            "The page link is not one this queue gave; start again from the first page.",
            reason="page.cursor_invalid",
            field="cursor",
        )
    return value, after


def take_sorted(
    session: Session,
    query: Select[Any],
    column: ColumnElement[Any],
    key: ColumnElement[Any],
    after: tuple[str | None, int] | None,
    limit: int,
) -> tuple[Slice, str | None]:
    """One page in (column, key) order, and the sort value of its last row (None: no more).
    An empty column sorts first, as ''."""
    shown = func.coalesce(column, "")
    if after is not None:
        value, last = after[0] or "", after[1]
        query = query.where(or_(shown > value, and_(shown == value, key > last)))
    query = query.add_columns(shown.label("sort_value")).order_by(shown.asc(), key.asc())
    rows = [dict(r) for r in session.execute(query.limit(limit + 1)).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    last_value = str(rows[-1]["sort_value"]) if more else None
    return Slice(rows, int(rows[-1]["id"]) if more else None), last_value
