"""Keyset pages of records read through their mapped class, shown by their read model.

For lists whose items are a record as its view renders it (to_jsonable): the monotonic row id
orders and continues the page, so a record inserted between two pages never shifts or repeats
one already served (see lists.take), and the items keep the view's exact wire form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store.lists import Direction, Slice


def record_page(
    session: Session,
    kind: type,
    shown: Callable[[Any], dict[str, Any]],
    after: int | None,
    limit: int,
    direction: Direction,
    **where: Any,
) -> Slice:
    """Records of `kind` matching `where`, after the id `after` in `direction`, as `shown`."""
    columns = kind.__table__.c  # type: ignore[attr-defined]
    key = columns.id
    query: Any = select(kind, key).where(*(columns[name] == value for name, value in where.items()))
    if after is not None:
        query = query.where(key < after if direction == "newest" else key > after)
    query = query.order_by(key.desc() if direction == "newest" else key.asc())
    rows = session.execute(query.limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Slice([shown(row[0]) for row in rows], int(rows[-1][1]) if more else None)
