"""What a printed record needs beside its data to be read by an inspector: the site's time
zone, the product's name, and the printed names of the people it names by user id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.domain.local_time import shown_at
from labgate.domain.masterdata import Product, Site

# The fields of a dossier or CoA that hold a user id (the trail's actor, a result's analyst...).
PERSON_KEYS = frozenset(
    ("actor", "analyst", "by", "closed_by", "phase1_by", "phase2_by", "released_by",
     "requested_by", "reviewer", "signer")
)  # fmt: skip


def reader_facts(session: Session, site: str, content: dict[str, Any]) -> dict[str, Any]:
    """The site's time zone and the printed name of everyone the record names by user id: the
    document shows times and people by them, and carries them so its hash covers what it shows."""
    return {
        "time_zone": site_zone(session, site),
        "people": people(session, users_in(content, PERSON_KEYS)),
    }


def site_zone(session: Session, site: str) -> str:
    """The site's IANA time zone; UTC for a site whose master data names none. Kept for the
    session (one page reads it for every view it makes readable)."""
    zones: dict[str, str] = session.info.setdefault("site_zones", {})
    if site not in zones:
        found = session.get(Site, site)
        zones[site] = "UTC" if found is None or found.time_zone is None else found.time_zone
    return zones[site]


def product_name(session: Session, site: str, product: str) -> str | None:
    """The product's name in master data, None when the product is not there."""
    found = session.scalars(select(Product).filter_by(site=site, code=product)).one_or_none()
    return None if found is None else found.name


def people(session: Session, user_ids: Iterable[str | None]) -> dict[str, str]:
    """Printed name by user id, for every id given that has an account, in id order."""
    wanted = sorted({u for u in user_ids if u})
    if not wanted:
        return {}
    query = select(t.accounts.c.username, t.accounts.c.printed_name)
    rows = session.execute(query.where(t.accounts.c.username.in_(wanted))).all()
    return dict(sorted((row.username, row.printed_name) for row in rows))


def users_in(value: Any, keys: frozenset[str]) -> set[str]:
    """Every text value under one of `keys`, anywhere in a JSON-shaped record."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in keys and isinstance(item, str):
                found.add(item)
            else:
                found |= users_in(item, keys)
    elif isinstance(value, list):
        for item in value:
            found |= users_in(item, keys)
    return found


@dataclass(frozen=True)
class Reader:
    """How one site's reader sees times and people in the sentences a record spells out."""

    zone: str = "UTC"
    names: Mapping[str, str] = field(default_factory=dict)

    def at(self, moment: datetime | str) -> str:
        """`2026-11-25 10:15:03 +01:00` in the site's zone."""
        return shown_at(moment, self.zone) or "—"

    def who(self, user: str) -> str:
        """`Rolf Reviewer (reviewer)`, or the bare id of one without an account."""
        name = self.names.get(user)
        return user if name is None else f"{name} ({user})"


def reader(session: Session, site: str, users: Iterable[str | None]) -> Reader:
    """The reader of `site`, knowing the printed names of `users`."""
    return Reader(site_zone(session, site), people(session, users))


def readable(
    session: Session, site: str, view: Any, person_keys: frozenset[str] = PERSON_KEYS
) -> Any:
    """An API view as a person at the site reads it, beside what a program reads: next to every
    UTC time `x_at` a `x_at_local` (to the second, site zone, offset), and next to every user id
    under a person key a `<key>_name` (printed name; null for an id with no account). Adds only:
    the UTC values and ids stay as they are. A view whose records name people under keys of
    their own (`decided_by`, `author`...) passes them in `person_keys`."""
    shown = reader(session, site, users_in(view, person_keys))
    return _readable(view, shown, person_keys)


def _readable(value: Any, shown: Reader, keys: frozenset[str]) -> Any:
    if isinstance(value, list):
        return [_readable(item, shown, keys) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        out[key] = _readable(item, shown, keys)
        if key.endswith("_at") and (item is None or isinstance(item, str)):
            out[f"{key}_local"] = None if item is None else shown.at(item)
        elif key in keys and (item is None or isinstance(item, str)):
            out[f"{key}_name"] = None if item is None else shown.names.get(item)
    return out
