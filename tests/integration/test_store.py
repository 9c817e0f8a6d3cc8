"""The SQL store, on SQLite and on PostgreSQL: transactions, the audit chain, append-only guards,
exact decimals and UTC datetimes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Text, cast, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from labgate.adapters.store import tables as t
from labgate.adapters.store.views import iter_audit
from labgate.bootstrap import Hub
from labgate.compliance.access import Account
from labgate.compliance.audit import GENESIS_HASH, AuditDraft, verify_chain
from labgate.compliance.passwords import new_api_key
from labgate.domain.commands import Context, CreateAccount
from labgate.domain.lifecycle import ResultStatus, SampleStatus
from labgate.domain.samples import Sample
from labgate.domain.status_map import MesStatus

SITE = "T1"
AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def draft(record_id: str, action: str = "test.written") -> AuditDraft:
    """An audit entry about a made-up record."""
    return AuditDraft("tester", "person", action, "test", record_id, AT, after={"id": record_id})


def audit_count(hub: Hub) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(t.audit_entries)) or 0


def verified(hub: Hub) -> tuple[bool, list[int]]:
    """Whether the whole chain verifies, and the sequence numbers it holds."""
    with hub.sessions() as session:
        entries = list(iter_audit(session))
    return verify_chain(entries).ok, [e.seq for e in entries]


def add_sample(session: Session, code: str, sampled_at: datetime = AT) -> int:
    """A bare sample row (no master data needed at this level)."""
    row = {
        "site": SITE,
        "code": code,
        "product": "P1",
        "specification": "SPEC-A",
        "spec_version": 1,
        "sampled_at": sampled_at,
        "requested_by": "mes",
        "status": SampleStatus.REQUESTED,
    }
    sample_id: int = session.execute(
        insert(t.samples).values(**row).returning(t.samples.c.id)
    ).scalar_one()
    return sample_id


def add_result(session: Session, sample_id: int, code: str, reported: Decimal | None) -> None:
    """A bare result row with a reported value."""
    session.execute(
        insert(t.results).values(
            sample_id=sample_id,
            code=code,
            test_code="ASSAY",
            raw_value=str(reported),
            method="M-ASSAY",
            method_version="1",
            analyst="analyst",
            entered_at=AT,
            limit_set="SPEC-A v1: NLT 98.0",
            status=ResultStatus.PRELIMINARY,
            reported_value=reported,
            mes_status=MesStatus.PENDING,
        )
    )


def add_signature(session: Session, record_id: str) -> None:
    session.execute(
        insert(t.signatures).values(
            site=SITE,
            record_type="result",
            record_id=record_id,
            signer="reviewer",
            printed_name="Rolf Reviewer",
            meaning="approved",
            signed_at=AT,
            content_hash="a" * 64,
        )
    )


# --- the unit of work ------------------------------------------------------------------------


def test_leaving_a_unit_of_work_without_commit_stores_nothing(hub: Hub) -> None:
    with hub.uow_factory() as uow:
        uow.records.add(Account("ghost", "Ghost Person", ["qc_analyst"]))
        assert uow.records.get(Account, username="ghost") is not None  # flushed, not committed
        uow.audit(draft("ghost"))
    with hub.uow_factory() as uow:
        assert uow.records.find(Account) == []
    assert audit_count(hub) == 0
    with hub.sessions() as session:
        head = session.execute(select(t.audit_head)).one()
    assert (head.seq, head.hash) == (0, GENESIS_HASH)


def test_an_error_inside_a_unit_of_work_rolls_it_back(hub: Hub) -> None:
    with pytest.raises(RuntimeError), hub.uow_factory() as uow:
        uow.records.add(Account("ghost", "Ghost Person", ["qc_analyst"]))
        uow.audit(draft("ghost"))
        raise RuntimeError("the handler failed half-way")
    with hub.uow_factory() as uow:
        assert uow.records.find(Account) == []
    assert audit_count(hub) == 0


@pytest.mark.requirement("URS-A11-9", category="failure_recovery")
def test_a_change_that_failed_half_way_leaves_no_entry_and_the_next_one_continues_the_chain(
    hub: Hub,
) -> None:
    with hub.uow_factory() as uow:
        uow.audit(draft("before"))
        uow.commit()
    with pytest.raises(RuntimeError), hub.uow_factory() as uow:
        uow.records.add(Account("ghost", "Ghost Person", ["qc_analyst"]))
        uow.audit(draft("ghost"))
        raise RuntimeError("the handler failed half-way")
    with hub.uow_factory() as uow:  # the same change again, once the cause is gone
        uow.records.add(Account("ghost", "Ghost Person", ["qc_analyst"]))
        uow.audit(draft("ghost"))
        uow.commit()
    ok, seqs = verified(hub)
    assert ok and seqs == [1, 2]  # no hole, no fork, no entry of the failed attempt
    with hub.sessions() as session:
        entries = list(iter_audit(session))
    assert [e.draft.record_id for e in entries] == ["before", "ghost"]
    with hub.uow_factory() as uow:
        assert [a.username for a in uow.records.find(Account)] == ["ghost"]


def test_committed_units_of_work_continue_one_chain(hub: Hub) -> None:
    with hub.uow_factory() as uow:
        uow.audit(draft("first-1"))
        uow.audit(draft("first-2"))
        uow.commit()
    with hub.uow_factory() as uow:
        for n in range(3):
            uow.audit(draft(f"second-{n}"))
        uow.commit()
    ok, seqs = verified(hub)
    assert ok
    assert seqs == [1, 2, 3, 4, 5]
    with hub.sessions() as session:
        entries = list(iter_audit(session))
        head = session.execute(select(t.audit_head)).one()
    assert entries[2].prev_hash == entries[1].hash  # the second unit links to the first
    assert entries[0].prev_hash == GENESIS_HASH
    assert (head.seq, head.hash) == (5, entries[-1].hash)


def test_concurrent_writers_leave_one_unforked_gapless_chain(hub: Hub) -> None:
    per_thread, start = 20, threading.Barrier(2)

    def create_accounts(thread: str) -> None:
        ctx = Context(f"cli:{thread}", "system")
        start.wait(timeout=10)
        for n in range(per_thread):
            username = f"{thread}-{n:02d}"
            command = CreateAccount(
                ctx, username, username.upper(), ("mes_system",), None, "system", new_api_key()
            )
            hub.bus.handle(command)

    with ThreadPoolExecutor(max_workers=2) as pool:
        writers = [pool.submit(create_accounts, name) for name in ("left", "right")]
        for writer in writers:
            writer.result(timeout=120)  # re-raises a writer's failure here

    ok, seqs = verified(hub)
    assert ok
    assert seqs == list(range(1, 2 * per_thread + 1))
    with hub.sessions() as session:
        actors = session.scalars(select(t.audit_entries.c.actor).order_by(t.audit_entries.c.seq))
        assert set(actors) == {"cli:left", "cli:right"}
        assert session.scalar(select(func.count()).select_from(t.accounts)) == 2 * per_thread


# --- append-only records ---------------------------------------------------------------------


@pytest.fixture
def records(hub: Hub) -> Hub:
    """One audit entry, one sample with one result, one signature: committed."""
    with hub.uow_factory() as uow:
        uow.audit(draft("S-1"))
        uow.commit()
    with hub.sessions.begin() as session:
        add_result(session, add_sample(session, "S-1"), "S-1-R1", Decimal("98.10"))
        add_signature(session, "S-1-R1")
    return hub


REFUSED = [
    pytest.param(update(t.audit_entries).values(reason="edited"), id="update-audit"),
    pytest.param(delete(t.audit_entries), id="delete-audit"),
    pytest.param(update(t.signatures).values(meaning="reviewed"), id="update-signature"),
    pytest.param(delete(t.signatures), id="delete-signature"),
    pytest.param(delete(t.samples), id="delete-sample"),
    pytest.param(delete(t.results), id="delete-result"),
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_database_refuses_to_change_or_remove_gxp_records(
    records: Hub, statement: Executable
) -> None:
    with records.sessions() as session, pytest.raises(DBAPIError, match="append-only"):
        session.execute(statement)
    ok, seqs = verified(records)
    assert ok and seqs == [1]


def test_postgres_refuses_truncate_too(records: Hub) -> None:
    if records.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    with records.sessions() as session, pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("TRUNCATE audit_entries"))


def test_samples_and_results_may_still_change_status(records: Hub) -> None:
    with records.sessions.begin() as session:
        session.execute(update(t.samples).values(status=SampleStatus.REGISTERED))
        session.execute(update(t.results).values(status=ResultStatus.APPROVED))
    with records.sessions() as session:
        assert session.scalar(select(t.samples.c.status)) is SampleStatus.REGISTERED


# --- exact values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text_value",
    ["98.10", "0.000", "-0.50", "100", "1E+3", "0.0000001", "123456789012345678901234.567890"],
)
def test_decimals_round_trip_exactly(hub: Hub, text_value: str) -> None:
    with hub.sessions.begin() as session:
        add_result(session, add_sample(session, "S-1"), "S-1-R1", Decimal(text_value))
    with hub.sessions() as session:
        back = session.scalar(select(t.results.c.reported_value))
        stored = session.scalar(select(cast(t.results.c.reported_value, Text)))
    written = Decimal(text_value)
    assert isinstance(back, Decimal)
    assert back.as_tuple() == written.as_tuple()  # same digits, same exponent: zeros kept
    assert stored == str(written)  # stored as the exact text, never through a float


def test_a_reported_value_keeps_its_trailing_zero(hub: Hub) -> None:
    with hub.sessions.begin() as session:
        add_result(session, add_sample(session, "S-1"), "S-1-R1", Decimal("98.10"))
    with hub.sessions() as session:
        assert str(session.scalar(select(t.results.c.reported_value))) == "98.10"


def test_an_empty_decimal_stays_empty(hub: Hub) -> None:
    with hub.sessions.begin() as session:
        add_result(session, add_sample(session, "S-1"), "S-1-R1", None)
    with hub.sessions() as session:
        assert session.scalar(select(t.results.c.reported_value)) is None


def test_datetimes_come_back_aware_utc(hub: Hub) -> None:
    written = datetime(2026, 3, 2, 6, 0, 0, 123456, tzinfo=CET)
    with hub.sessions.begin() as session:
        add_sample(session, "S-1", sampled_at=written)
    with hub.sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            # A server or session in another zone must not leak into what labgate reads.
            session.execute(text("SET TIME ZONE 'America/New_York'"))
        back = session.scalar(select(t.samples.c.sampled_at))
    assert back == written
    assert back is not None and back.utcoffset() == timedelta(0)
    assert back.tzinfo is UTC
    assert back.hour == 5 and back.microsecond == 123456


def test_the_store_maps_aware_datetimes_onto_domain_records(hub: Hub) -> None:
    with hub.sessions.begin() as session:
        add_sample(session, "S-1", sampled_at=datetime(2026, 3, 2, 6, 0, tzinfo=CET))
    with hub.uow_factory() as uow:
        sample = uow.records.get(Sample, site=SITE, code="S-1")
        assert sample is not None
        assert sample.sampled_at == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
        assert sample.sampled_at.tzinfo is UTC


def test_audit_times_come_back_aware_utc(hub: Hub) -> None:
    with hub.uow_factory() as uow:
        uow.audit(
            AuditDraft("tester", "person", "test.written", "test", "x", at=AT.astimezone(CET))
        )
        uow.commit()
    with hub.sessions() as session:
        (entry,) = list(iter_audit(session))
    assert entry.draft.at == AT and entry.draft.at.tzinfo is UTC
    assert verify_chain([entry]).ok  # the seal is over UTC text, whatever zone it was written in


def test_the_migrations_build_exactly_the_schema_the_code_maps(hub: Hub) -> None:
    # A table, column or index added to tables.py without its migration (or the other way
    # round) would work in tests built from the metadata and fail on an upgraded plant.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from labgate.adapters.store.tables import metadata

    with hub.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
