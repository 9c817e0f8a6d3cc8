"""What the ICD states that the store holds: the partner systems with their keys, the site's
mappings, aliases, units, rounding rules and the status map, read in one session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.adapters.store.config_store import load_channel_allow_lists, load_status_map
from labgate.compliance.checkpoints import thumbprint
from labgate.compliance.clock import iso_utc


def partners(session: Session) -> list[dict[str, Any]]:
    """Every system account with its roles and signing keys (thumbprints, validity, revocation)."""
    a, k = t.accounts.c, t.source_keys.c
    keys: dict[str, list[dict[str, Any]]] = {}
    for row in session.execute(select(t.source_keys).order_by(k.source, k.kid)):
        keys.setdefault(row.source, []).append({
            "kid": row.kid,
            "thumbprint": thumbprint(row.public_jwk),
            "valid_from": iso_utc(row.valid_from),
            "valid_until": iso_utc(row.valid_until) if row.valid_until else None,
            "revoked": row.revoked_at is not None,
        })  # fmt: skip
    systems = select(a.username, a.printed_name, a.roles, a.active).where(a.kind == "system")
    return [
        {"username": row.username, "name": row.printed_name, "roles": sorted(row.roles),
         "active": bool(row.active), "keys": keys.get(row.username, [])}
        for row in session.execute(systems.order_by(a.username))
    ]  # fmt: skip


def site_configuration(session: Session, site: str, at: datetime) -> dict[str, Any]:
    """The site's name, mappings, aliases, units, rounding rules (method versions) and the
    status map in force at `at`, as plain rows; the mappings and aliases retired by then."""
    m, al, mv = t.mappings.c, t.aliases.c, t.method_versions.c
    name = session.scalar(select(t.sites.c.name).where(t.sites.c.code == site))
    # The installed map, or the change request's version whose date has come.
    in_force = load_status_map(session).in_force(at)
    return {
        "site_name": name or site,
        "mappings": _rows(session, select(m.characteristic, m.test_code, m.sampling_point)
                          .where(m.site == site, _in_force(m, at))),
        "aliases": _rows(session, select(al.system, al.kind, al.external_code, al.canonical_code)
                         .where(al.site == site, _in_force(al, at))),
        "retired": _retired(session, site, at),
        "units": _rows(session, select(t.units.c.code, t.units.c.expression, t.units.c.kind,
                                       t.units.c.precision)),
        "rounding": _rows(session, select(mv.method, mv.version, mv.rounding_rule, mv.sig_figs)
                          .where(mv.site == site)),
        "status_rules": [
            {"lims_status": r.lims_status.value, "outcome": r.outcome.value,
             "mes_status": r.mes_status.value, "status_map_version": in_force.version}
            for r in in_force.rules
        ],
    }  # fmt: skip


def channel_allow_list(session: Session, at: datetime) -> tuple[str, dict[str, list[str]]] | None:
    """The channel allow-list a change request put in force at `at`, named by its version and
    request (None: none yet, the installed setting holds)."""
    found = load_channel_allow_lists(session).in_force(at)
    if found is None:
        return None
    version, channels = found
    v = t.channel_allow_list_versions.c
    code = session.scalar(select(v.change_request).where(v.version == version))
    named = {channel: sorted(schemas) for channel, schemas in channels.items()}
    return f"version {version} (change request {code})", named


def _in_force(c: Any, at: datetime) -> Any:
    return or_(c.retired_from.is_(None), c.retired_from > at)


def _retired(session: Session, site: str, at: datetime) -> list[dict[str, Any]]:
    """Each mapping and alias retired by `at`: which, from when, by which change request."""
    m, al = t.mappings.c, t.aliases.c
    mappings = select(m.characteristic, m.sampling_point, m.test_code, m.retired_from,
                      m.retired_by).where(m.site == site, m.retired_from <= at)  # fmt: skip
    aliases = select(al.system, al.kind, al.external_code, al.canonical_code, al.retired_from,
                     al.retired_by).where(al.site == site, al.retired_from <= at)  # fmt: skip
    found = [
        {"record": "mapping",
         "key": f"{r.characteristic} @ {r.sampling_point or 'any'} → {r.test_code}",
         "retired_from": iso_utc(r.retired_from), "retired_by": r.retired_by}
        for r in session.execute(mappings)
    ]  # fmt: skip
    found += [
        {"record": "alias",
         "key": f"{getattr(r.system, 'value', r.system)} {r.kind} {r.external_code} → "
                f"{r.canonical_code}",
         "retired_from": iso_utc(r.retired_from), "retired_by": r.retired_by}
        for r in session.execute(aliases)
    ]  # fmt: skip
    return found


def _rows(session: Session, query: Any) -> list[dict[str, Any]]:
    """Rows as plain values (enums by their value)."""
    return [
        {name: getattr(value, "value", value) for name, value in row._mapping.items()}
        for row in session.execute(query)
    ]
