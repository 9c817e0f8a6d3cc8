"""A sample's planned tests and results, mapped by hand (adapters/store/children.py): what a
unit of work changes is what the next one reads, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from labgate.adapters.store import tables as t
from labgate.adapters.store.children import ChildrenRemoved
from labgate.bootstrap import Hub
from labgate.domain.lifecycle import ResultStatus, SampleStatus, TestStatus
from labgate.domain.samples import NewResult, Sample
from plant import SITE, Plant, request_sample

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def result_rows(hub: Hub) -> list[tuple[str, str, str]]:
    r = t.results.c
    with hub.engine.connect() as connection:
        query = select(r.code, r.status, r.raw_value).order_by(r.id)
        return [(a, b, c) for a, b, c in connection.execute(query)]


def test_children_written_by_one_unit_of_work_are_read_by_the_next(hub: Hub, plant: Plant) -> None:
    first, second = request_sample(plant, "REQ-C1"), request_sample(plant, "REQ-C2")
    with hub.uow_factory() as uow:
        one, two = (uow.records.get(Sample, site=SITE, code=code) for code in (first, second))
        assert one is not None and two is not None
        assert [p.status for p in one.tests] == [TestStatus.PLANNED] * len(one.tests)
        units = hub.bus.deps.unit_converter(uow.unit_expressions())
        status_map = uow.status_map(AT)
        # Results arrive across samples: ids follow arrival, not the sample they belong to.
        for sample, test, value, unit in ((one, "ASSAY", "99.1", "%"), (two, "ASSAY", "98.7", "%"),
                                          (one, "WATER", "0.2", "%")):  # fmt: skip
            code = f"{sample.code}-R{len(sample.results) + 1}"
            sample.record_result(NewResult(code, test, value, unit, "1", "an"), AT, units,
                                 status_map)  # fmt: skip
        uow.flush()  # written mid-transaction, then changed again: an UPDATE by key
        one.approve_result(f"{first}-R1", "reviewer", AT, status_map)
        uow.commit()
    assert result_rows(hub) == [
        (f"{first}-R1", "approved", "99.1"),
        (f"{second}-R1", "preliminary", "98.7"),
        (f"{first}-R2", "preliminary", "0.2"),
    ]
    with hub.uow_factory() as uow:
        again = uow.records.get(Sample, site=SITE, code=first)
        assert again is not None and again.status is SampleStatus.IN_TESTING
        assert [(r.code, r.status) for r in again.results] == [
            (f"{first}-R1", ResultStatus.APPROVED),
            (f"{first}-R2", ResultStatus.PRELIMINARY),
        ]
        statuses = {p.test_code: p.status for p in again.tests}
        assert statuses["ASSAY"] is TestStatus.COMPLETED
        assert statuses["WATER"] is TestStatus.IN_PROGRESS
        assert again.results[0].reported_value is not None  # Decimal round trip
        assert again.results[0].reported_value == one.results[0].reported_value


def assay_recorded(hub: Hub, code: str, value: str, commit: bool) -> None:
    """An assay result on the sample, flushed; committed or left without commit."""
    with hub.uow_factory() as uow:
        sample = uow.records.get(Sample, site=SITE, code=code)
        assert sample is not None
        units = hub.bus.deps.unit_converter(uow.unit_expressions())
        new = NewResult(f"{code}-R1", "ASSAY", value, "%", "1", "an")
        sample.record_result(new, AT, units, uow.status_map(AT))
        uow.flush()
        if commit:
            uow.commit()


def test_a_unit_of_work_left_without_commit_writes_no_children(hub: Hub, plant: Plant) -> None:
    code = request_sample(plant, "REQ-C3")
    assay_recorded(hub, code, "99.0", commit=False)
    assert result_rows(hub) == []
    with hub.uow_factory() as uow:
        sample = uow.records.get(Sample, site=SITE, code=code)
        assert sample is not None and sample.results == []


def test_children_are_never_removed(hub: Hub, plant: Plant) -> None:
    code = request_sample(plant, "REQ-C4")
    with hub.uow_factory() as uow:
        sample = uow.records.get(Sample, site=SITE, code=code)
        assert sample is not None
        sample.tests.pop()
        with pytest.raises(ChildrenRemoved, match="lost or reordered its planned tests"):
            uow.commit()


def test_a_change_of_digits_alone_is_written(hub: Hub, plant: Plant) -> None:
    """98.1 equals 98.10 as a number, but not as a recorded value: the change is written."""
    code = request_sample(plant, "REQ-C5")
    assay_recorded(hub, code, "99.1", commit=True)
    with hub.uow_factory() as uow:
        sample = uow.records.get(Sample, site=SITE, code=code)
        assert sample is not None and sample.results[0].reported_value == Decimal("99.1")
        sample.results[0].reported_value = Decimal("99.10")
        uow.commit()
    r = t.results.c
    with hub.engine.connect() as connection:
        stored = connection.scalar(select(r.reported_value).where(r.code == f"{code}-R1"))
    assert str(stored) == "99.10"
