"""The measures of the data-quality rules (domain/data_quality.py): per rule, how many records of
a site fail it, how many it looked at, and up to MAX_EXAMPLES keys of failing records.

Each failing set is one SELECT counted in the database and read again with a LIMIT for its
examples; every query is a scan of one site's rows or an index range (the timeliness rules'
indexes come with migration 0028), joined by unique keys, so a run costs no worse than linear
in the records. The one pairing (cross-posting mappings) pairs rows within one (site, test)
group only. Limit expressions are parsed by the domain's own parser, one row at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from labgate.adapters.store import tables as t
from labgate.adapters.store.config_store import status_map_history
from labgate.domain.data_quality import MAX_EXAMPLES, DqWindows, Measure
from labgate.domain.errors import InvalidInput
from labgate.domain.lifecycle import ResultStatus, SampleStatus, SpecStatus
from labgate.domain.limits import parse_limit

RELEASE = "release"  # a release point without a plan gets the release set, whole panel
UNDELIVERED = ("pending", "held", "dead")  # the outbox's states short of delivered
ALIAS_TARGETS = {  # what an alias of each kind names, by (table, has a site column)
    "product": (t.products, True),
    "test": (t.test_definitions, True),
    "characteristic": (t.characteristics, True),
    "unit": (t.units, False),
}


def _measure(session: Session, failing: Select[Any], population: Select[Any]) -> Measure:
    """Count the failing rows (first column: the example key) and read a few of their keys."""
    count = session.scalar(select(func.count()).select_from(failing.subquery())) or 0
    keys = session.scalars(failing.order_by(failing.selected_columns[0]).limit(MAX_EXAMPLES))
    total = session.scalar(population) or 0
    return Measure(count, total, tuple(str(k) for k in keys))


def _in_force(sv: Any, now: datetime) -> ColumnElement[bool]:
    """The version binds a sample taken now (domain SpecVersion.in_force_at, in SQL)."""
    return and_(
        sv.status.in_([SpecStatus.EFFECTIVE, SpecStatus.RETIRED]),
        sv.effective_from.is_not(None), sv.effective_from <= now,
        or_(sv.retired_at.is_(None), sv.retired_at > now),
    )  # fmt: skip


def _count(table: Any, *where: ColumnElement[bool]) -> Select[Any]:
    return select(func.count()).select_from(table).where(*where)


def products_without_spec(session: Session, site: str, now: datetime, _: DqWindows) -> Measure:
    """DQ-COMPLETE-001."""
    p, sv = t.products.c, t.spec_versions.c
    spec = exists().where(sv.site == p.site, sv.specification == p.specification,
                          _in_force(sv, now))  # fmt: skip
    failing = select(p.code).where(p.site == site, ~spec)
    return _measure(session, failing, _count(t.products, p.site == site))


def numeric_tests_without_unit(session: Session, site: str, _n: datetime, _: DqWindows) -> Measure:
    """DQ-COMPLETE-002."""
    d = t.test_definitions.c
    failing = select(d.code).where(d.site == site, d.value_kind == "numeric",
                                   or_(d.unit.is_(None), func.trim(d.unit) == ""))  # fmt: skip
    return _measure(session, failing, _count(t.test_definitions, d.site == site))


def points_without_plan(session: Session, site: str, now: datetime, _: DqWindows) -> Measure:
    """DQ-COMPLETE-003: points other than release points (those fall back to the whole
    release panel, domain/sampling.py)."""
    sp, pr, p = t.sampling_points.c, t.procedures.c, t.products.c
    sv, pl = t.spec_versions.c, t.sampling_plans.c
    planned = (
        select(pl.id)
        .join(t.spec_versions, sv.id == pl.spec_version_id)
        .join(t.products, and_(p.site == sv.site, p.specification == sv.specification))
        .where(
            pl.sampling_point == sp.code,
            p.site == pr.site,
            p.code == pr.product,
            _in_force(sv, now),
        )
    )
    failing = (
        select(sp.code)
        .join(t.procedures, and_(pr.site == sp.site, pr.code == sp.procedure), isouter=True)
        .where(sp.site == site, sp.sample_type != RELEASE, ~planned.exists())
    )
    points = _count(t.sampling_points, sp.site == site, sp.sample_type != RELEASE)
    return _measure(session, failing, points)


def unparsable_limits(session: Session, site: str, _n: datetime, _: DqWindows) -> Measure:
    """DQ-VALID-001: read line by line and parsed by the domain's parser."""
    ll, sv = t.limit_lines.c, t.spec_versions.c
    rows = session.execute(
        select(sv.specification, sv.version, ll.limit_set, ll.test_code, ll.limit, ll.alert,
               ll.action)
        .join(t.spec_versions, sv.id == ll.spec_version_id)
        .where(sv.site == site, sv.status != SpecStatus.RETIRED)
        .order_by(sv.specification, sv.version, ll.id)
    )  # fmt: skip
    total, bad = 0, []
    for spec, version, limit_set, test, *expressions in rows:
        total += 1
        if not all(_parses(e) for e in expressions if e is not None):
            bad.append(f"{spec}/v{version}/{limit_set}/{test}")
    return Measure(len(bad), total, tuple(bad[:MAX_EXAMPLES]))


def _parses(expression: str) -> bool:
    try:
        parse_limit(expression)
    except InvalidInput:
        return False
    return True


def aliases_to_unknown(session: Session, site: str, _n: datetime, _: DqWindows) -> Measure:
    """DQ-VALID-002."""
    a = t.aliases.c
    known: list[ColumnElement[bool]] = []
    for kind, (table, sited) in ALIAS_TARGETS.items():
        named = exists().where(table.c.code == a.canonical_code,
                               table.c.site == a.site if sited else true())  # fmt: skip
        known.append(and_(a.kind == kind, named))
    key = a.system + literal("/") + a.kind + literal("/") + a.external_code
    in_use = and_(a.site == site, a.retired_from.is_(None))  # a retired alias resolves nothing
    failing = select(key).where(in_use, ~or_(*known))
    return _measure(session, failing, _count(t.aliases, in_use))


def cross_posting_mappings(session: Session, site: str, _n: datetime, _: DqWindows) -> Measure:
    """DQ-UNIQUE-001: pairs of mappings in force of one test to two characteristics whose
    contexts overlap (equal sampling points, or either without one); a retired one posts
    nothing."""
    m1, m2 = aliased(t.mappings), aliased(t.mappings)
    point1, point2 = (
        func.coalesce(m1.c.sampling_point, "*"),
        func.coalesce(m2.c.sampling_point, "*"),
    )
    key = (m1.c.test_code + literal(": ") + m1.c.characteristic + literal("@") + point1
           + literal(" / ") + m2.c.characteristic + literal("@") + point2)  # fmt: skip
    failing = select(key).join(
        m2,
        and_(m2.c.site == m1.c.site, m2.c.test_code == m1.c.test_code, m2.c.id > m1.c.id,
             m2.c.characteristic != m1.c.characteristic, m2.c.retired_from.is_(None),
             or_(m1.c.sampling_point.is_(None), m2.c.sampling_point.is_(None),
                 m1.c.sampling_point == m2.c.sampling_point)),
    ).where(m1.c.site == site, m1.c.retired_from.is_(None))  # fmt: skip
    in_use = and_(t.mappings.c.site == site, t.mappings.c.retired_from.is_(None))
    return _measure(session, failing, _count(t.mappings, in_use))


def duplicate_alias_codes(session: Session, site: str, _n: datetime, _: DqWindows) -> Measure:
    """DQ-UNIQUE-002: aliases whose code repeats in its system and kind once case and
    surrounding spaces are ignored (exact repeats the database refuses already); aliases in
    force only."""
    a = t.aliases.c
    folded = func.lower(func.trim(a.external_code))
    groups = (
        select((a.system + literal("/") + a.kind + literal("/") + folded).label("key"),
               func.count().label("n"))
        .where(a.site == site, a.retired_from.is_(None))
        .group_by(a.system, a.kind, folded)
        .having(func.count() > 1)
    ).subquery()  # fmt: skip
    count = session.scalar(select(func.coalesce(func.sum(groups.c.n), 0))) or 0
    keys = session.scalars(select(groups.c.key).order_by(groups.c.key).limit(MAX_EXAMPLES))
    total = session.scalar(_count(t.aliases, and_(a.site == site, a.retired_from.is_(None)))) or 0
    return Measure(int(count), total, tuple(keys))


def unregistered_samples(session: Session, site: str, now: datetime, w: DqWindows) -> Measure:
    """DQ-TIMELY-001."""
    s = t.samples.c
    cutoff = now - timedelta(hours=w.register_hours)
    failing = select(s.code).where(s.site == site, s.status == SampleStatus.REQUESTED,
                                   s.sampled_at < cutoff)  # fmt: skip
    return _measure(session, failing, _count(t.samples, s.site == site))


def stale_preliminary(session: Session, site: str, now: datetime, w: DqWindows) -> Measure:
    """DQ-TIMELY-002: population: the site's Preliminary results."""
    r, s = t.results.c, t.samples.c
    of_site = t.results.join(t.samples, s.id == r.sample_id)
    preliminary = and_(s.site == site, r.status == ResultStatus.PRELIMINARY)
    cutoff = now - timedelta(hours=w.preliminary_hours)
    failing = select(r.code).select_from(of_site).where(preliminary, r.entered_at < cutoff)
    return _measure(session, failing, _count(of_site, preliminary))


def long_held_messages(session: Session, site: str, now: datetime, w: DqWindows) -> Measure:
    """DQ-TIMELY-003: population: the site's held messages."""
    i = t.inbox_messages.c
    cutoff = now - timedelta(seconds=w.inbox_hold_seconds)
    held = and_(i.site == site, i.status == "held")
    failing = select(i.source + literal("/") + i.message_id).where(held, i.received_at < cutoff)
    return _measure(session, failing, _count(t.inbox_messages, held))


def undelivered_outbox(session: Session, site: str, now: datetime, w: DqWindows) -> Measure:
    """DQ-TIMELY-004: population: the site's messages not delivered yet."""
    o = t.outbox.c
    cutoff = now - timedelta(minutes=w.outbox_minutes)
    owed = and_(o.status.in_(UNDELIVERED), o.site == site)
    failing = select(o.message_id).where(owed, o.created_at < cutoff)
    return _measure(session, failing, _count(t.outbox, owed))


def results_off_the_map(session: Session, site: str, _n: datetime, _: DqWindows) -> Measure:
    """DQ-CONSIST-001: results whose MES status is not what the status map they were decided
    under (results.status_map_version) gives for their lab status and evaluation. The results
    are grouped by the database; each group is judged by that map (change control's versions
    are JSON, not rows a join could read)."""
    r, s = t.results.c, t.samples.c
    of_site = t.results.join(t.samples, s.id == r.sample_id)
    maps = {m.version: m for _, m in status_map_history(session)}
    shape = (r.status_map_version, r.status, r.conforms, r.mes_status)
    groups = session.execute(
        select(*shape).select_from(of_site).where(s.site == site).group_by(*shape)
    )
    off = [
        and_(r.status_map_version == version, r.status == status, r.mes_status == mes,
             r.conforms.is_(None) if conforms is None else r.conforms == conforms)
        for version, status, conforms, mes in groups
        if version not in maps or maps[version].mes_status(status, conforms) is not mes
    ]  # fmt: skip
    failing = select(r.code).select_from(of_site).where(s.site == site, or_(false(), *off))
    return _measure(session, failing, _count(of_site, s.site == site))


def gates_off_their_samples(session: Session, site: str, _n: datetime, _: DqWindows) -> Measure:
    """DQ-CONSIST-002: entries of unknown samples, of another batch or point than their
    sample's, or cancelled when it is not (or the reverse)."""
    g, s = t.gate_entries.c, t.samples.c
    joined = t.gate_entries.join(t.samples, and_(s.site == g.site, s.code == g.sample),
                                 isouter=True)  # fmt: skip
    cancelled = s.status == SampleStatus.CANCELLED
    failing = select(g.sample).select_from(joined).where(
        g.site == site,
        or_(s.id.is_(None), s.batch.is_(None), s.batch != g.batch,
            s.sampling_point.is_(None), s.sampling_point != g.sampling_point,
            and_(g.cancelled == true(), ~cancelled), and_(g.cancelled == false(), cancelled)),
    )  # fmt: skip
    return _measure(session, failing, _count(t.gate_entries, g.site == site))


Query = Callable[[Session, str, datetime, DqWindows], Measure]
MEASURES: dict[str, Query] = {
    "DQ-COMPLETE-001": products_without_spec,
    "DQ-COMPLETE-002": numeric_tests_without_unit,
    "DQ-COMPLETE-003": points_without_plan,
    "DQ-VALID-001": unparsable_limits,
    "DQ-VALID-002": aliases_to_unknown,
    "DQ-UNIQUE-001": cross_posting_mappings,
    "DQ-UNIQUE-002": duplicate_alias_codes,
    "DQ-TIMELY-001": unregistered_samples,
    "DQ-TIMELY-002": stale_preliminary,
    "DQ-TIMELY-003": long_held_messages,
    "DQ-TIMELY-004": undelivered_outbox,
    "DQ-CONSIST-001": results_off_the_map,
    "DQ-CONSIST-002": gates_off_their_samples,
}


def measure_all(
    session: Session, site: str, now: datetime, windows: DqWindows
) -> dict[str, Measure]:
    """Every rule's measure at one site, in the rule table's order."""
    return {rule: query(session, site, now, windows) for rule, query in MEASURES.items()}
