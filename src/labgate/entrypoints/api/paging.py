"""Cursor pages: an opaque cursor, a bounded limit, and the link to the next page."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel, Field

from labgate.adapters.store.lists import Slice
from labgate.domain.errors import InvalidInput

Item = TypeVar("Item", bound=BaseModel)

PageLimit = Annotated[int, Query(ge=1, le=500, description="Items per page (1 to 500).")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=200,
        description="`next_cursor` of the previous page; absent for the first page.",
    ),
]


class Page(BaseModel, Generic[Item]):
    """One page of a list; `next_cursor` and `next` are null on the last page."""

    items: list[Item]
    limit: int = Field(ge=1, le=1000)
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    next: str | None = Field(description="The URL of the next page, filters kept.")


def encode_cursor(kind: str, last_id: int) -> str:
    """Opaque to clients: the list it belongs to and the key to continue after."""
    raw = json.dumps({"list": kind, "after": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    """The key a cursor continues after; refused if it was not made by this list."""
    if cursor is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = data["after"] if data["list"] == kind else None
    except (binascii.Error, ValueError, TypeError, KeyError):
        after = None
    # Bounded like every integer the API takes: a forged huge key must not reach the database.
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**63:
        raise InvalidInput(
            "The cursor is not one this list gave; pass `next_cursor` from its previous page "
            "unchanged, or leave it out for the first page.",
            reason="page.cursor_invalid",
            field="cursor",
        )
    return after


def page_of(request: Request, kind: str, found: Slice, model: type[Item], limit: int) -> Page[Item]:
    """The typed page, with the next page's cursor and URL."""
    cursor = None if found.last_id is None else encode_cursor(kind, found.last_id)
    link = None if cursor is None else str(request.url.include_query_params(cursor=cursor))
    items = [model.model_validate(row) for row in found.rows]
    return Page[model](items=items, limit=limit, next_cursor=cursor, next=link)  # type: ignore[valid-type]
