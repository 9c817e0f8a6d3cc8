"""The store as a replay reads it: results, batches and the versions they were bound to, loaded
in a session that never flushes and is rolled back, so a replay cannot write a record."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from labgate.adapters.store import config_store, views
from labgate.adapters.store import tables as t
from labgate.adapters.store.review_signals import reaching
from labgate.compliance.clock import Clock
from labgate.compliance.signatures import Meaning, Signature
from labgate.domain.batches import Batch
from labgate.domain.deviations import Deviation
from labgate.domain.errors import NotFound
from labgate.domain.masterdata import MethodVersion, SpecVersion
from labgate.domain.samples import Sample, sample_of_result
from labgate.service.replay.records import Rules, StoredBatch, StoredResult, Versions


class ReplayView:
    """The store's StoredDecisions: reads only."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def result(self, site: str, code: str) -> StoredResult:
        """The result, its sample and their versions; NotFound naming the id."""
        with self._reading() as session:
            sample = session.scalars(
                select(Sample).filter_by(site=site, code=sample_of_result(code))
            ).one_or_none()
            if sample is None or all(r.code != code for r in sample.results):
                raise NotFound(f"No result {code} in site {site}.", reason="result.unknown",
                               field="result")  # fmt: skip
            return StoredResult(sample, code, _versions(session, site, [sample]))

    def batch(self, site: str, code: str) -> StoredBatch:
        """The batch, every sample of it and their versions; NotFound naming the id."""
        with self._reading() as session:
            batch = session.scalars(select(Batch).filter_by(site=site, code=code)).one_or_none()
            if batch is None:
                raise NotFound(f"No batch {code} in site {site}.", reason="batch.unknown",
                               field="batch")  # fmt: skip
            samples = list(
                session.scalars(
                    select(Sample).filter_by(site=site, batch=code).order_by(t.samples.c.id)
                )
            )
            signatures = views.signatures_of(session, site, "batch", code)
            as_of = _decided_at(batch, signatures) or self._clock.now()
            deviations = _deviations(session, batch, as_of)
            versions = _versions(session, site, samples)
            return StoredBatch(batch, samples, versions, deviations, signatures, as_of)

    def rules(self) -> Rules:
        """Every status map by version; the unit dictionary as stored now (it carries no
        version)."""
        with self._reading() as session:
            units = config_store.load_units(session)
            maps = {m.version: m for _, m in config_store.status_map_history(session)}
            return Rules(maps, dict(units))

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        # No autoflush, and never a commit: the children are written only before a commit
        # (children.py), so nothing a replay loads can reach the database.
        with self._sessions() as session:
            session.autoflush = False
            try:
                yield session
            finally:
                session.expunge_all()
                session.rollback()


def _decided_at(batch: Batch, signatures: list[Signature]) -> datetime | None:
    """When QA released or rejected the batch; None while it is undisposed."""
    if batch.released_at is not None:
        return batch.released_at
    rejected = [s.signed_at for s in signatures if s.meaning == Meaning.REJECTED.value]
    return rejected[-1] if rejected else None


def _deviations(session: Session, batch: Batch, as_of: datetime) -> list[Deviation]:
    """The deviations that stood in the way of the batch's disposition when it was decided (or
    now): its own and those of EM excursions reaching it, opened by then. One opened after QA
    signed (an excursion in a room the batch had left) did not stand in the decision's way."""
    query = select(Deviation).filter_by(site=batch.site, batch=batch.code)
    found = list(session.scalars(query))
    em = [x.deviation for x in reaching(session, batch, as_of) if x.deviation]
    if em:
        by_code = select(Deviation).filter_by(site=batch.site).where(t.deviations.c.code.in_(em))
        found += list(session.scalars(by_code))
    return [d for d in found if d.opened_at <= as_of]


def _versions(session: Session, site: str, samples: list[Sample]) -> Versions:
    """The spec and method versions these samples were bound to, one query each."""
    spec_keys = {(s.specification, s.spec_version) for s in samples}
    method_keys = {(p.method, p.method_version) for s in samples for p in s.tests}
    specs: dict[tuple[str, int], SpecVersion] = {}
    methods: dict[tuple[str, str], MethodVersion] = {}
    if spec_keys:
        key = tuple_(t.spec_versions.c.specification, t.spec_versions.c.version)
        query = select(SpecVersion).filter_by(site=site).where(key.in_(spec_keys))
        specs = {(v.specification, v.version): v for v in session.scalars(query)}
    if method_keys:
        pair = tuple_(t.method_versions.c.method, t.method_versions.c.version)
        found = select(MethodVersion).filter_by(site=site).where(pair.in_(method_keys))
        methods = {(m.method, m.version): m for m in session.scalars(found)}
    return Versions(specs, methods)


def sole_site(sessions: sessionmaker[Session]) -> str:
    """The only site in the database, for commands run without --site; NotFound otherwise."""
    with sessions() as session:
        codes: list[str] = list(session.scalars(select(t.sites.c.code).order_by(t.sites.c.code)))
    if len(codes) != 1:
        shown = ", ".join(codes) or "none"
        raise NotFound(f"Name the site with --site (sites: {shown}).", reason="site.unknown",
                       field="site")  # fmt: skip
    return codes[0]
