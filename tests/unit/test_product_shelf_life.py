"""A product's shelf life is governed master data: imported (optional, whole months), exported
so it re-imports unchanged, every change audited with before and after, a bad one refused."""

from __future__ import annotations

import copy
import pathlib
import sys
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
import yaml

from labgate.domain.commands import Context, ImportMasterData
from labgate.domain.errors import InvalidInput
from labgate.domain.masterdata import Product
from labgate.service.deps import Deps
from labgate.service.handlers.masterdata import (
    ImportSummary,
    export_masterdata,
    import_masterdata,
)

# tests/ holds the shared fakes; put it on the path without relying on a conftest.
sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from fakes import FakeUnitOfWork, ManualClock, TableUnits

ADMIN = Context("ian", correlation_id="corr-1")


def plant() -> dict[str, Any]:
    """A fresh copy of the demo plant document."""
    text = (resources.files("labgate.demo") / "plant.yaml").read_text(encoding="utf-8")
    return copy.deepcopy(yaml.safe_load(text))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def deps() -> Deps:
    clock = ManualClock(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    return Deps(clock=clock, unit_converter=lambda _units: TableUnits({}))


def load(
    uow: FakeUnitOfWork, deps: Deps, document: dict[str, Any], reason: str = "CC-1: load"
) -> ImportSummary:
    return import_masterdata(ImportMasterData(ADMIN, document, reason), uow, deps)


def product(uow: FakeUnitOfWork, code: str) -> Product:
    found = uow.records.get(Product, site="PLT1", code=code)
    assert found is not None
    return found


def test_the_demo_products_carry_their_shelf_life(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    assert product(uow, "IBU-400").shelf_life_months == 36
    assert product(uow, "PCM-500").shelf_life_months == 60
    created = next(e for e in uow.audit_log if e.record_id == "IBU-400")
    assert created.after is not None and created.after["shelf_life_months"] == 36


def test_a_product_without_a_shelf_life_has_none(uow: FakeUnitOfWork, deps: Deps) -> None:
    document = plant()
    del document["products"][0]["shelf_life_months"]
    document["products"][1]["shelf_life_months"] = None
    load(uow, deps, document)
    assert product(uow, "IBU-400").shelf_life_months is None
    assert product(uow, "PCM-500").shelf_life_months is None


def test_export_writes_the_shelf_life_and_reimports_unchanged(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    document = plant()
    del document["products"][1]["shelf_life_months"]
    load(uow, deps, document)
    audited = len(uow.audit_log)

    exported = export_masterdata(uow, "PLT1")
    assert [(p["code"], p["shelf_life_months"]) for p in exported["products"]] == [
        ("IBU-400", 36),
        ("PCM-500", None),
    ]
    summary = load(uow, deps, yaml.safe_load(yaml.safe_dump(exported)))
    assert summary["products"].unchanged == 2 and not summary.changed
    assert len(uow.audit_log) == audited


def test_a_change_of_shelf_life_is_audited_with_before_after_and_reason(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    load(uow, deps, plant())
    document = plant()
    document["products"][0]["shelf_life_months"] = 24
    summary = load(uow, deps, document, reason="CC-77: stability data supports 24 months only")

    assert (summary["products"].updated, summary["products"].unchanged) == (1, 1)
    assert product(uow, "IBU-400").shelf_life_months == 24
    entry = uow.audit_log[-1]
    assert (entry.action, entry.record_type, entry.record_id, entry.site) == (
        "masterdata.updated", "product", "IBU-400", "PLT1",
    )  # fmt: skip
    assert entry.before is not None and entry.after is not None
    assert (entry.before["shelf_life_months"], entry.after["shelf_life_months"]) == (36, 24)
    assert entry.reason == "CC-77: stability data supports 24 months only"


def test_removing_a_shelf_life_is_an_audited_change_too(uow: FakeUnitOfWork, deps: Deps) -> None:
    load(uow, deps, plant())
    document = plant()
    del document["products"][1]["shelf_life_months"]  # the document states the whole product
    summary = load(uow, deps, document, reason="CC-78: shelf life withdrawn")
    assert summary["products"].updated == 1
    assert product(uow, "PCM-500").shelf_life_months is None
    entry = uow.audit_log[-1]
    assert entry.before is not None and entry.after is not None
    assert (entry.before["shelf_life_months"], entry.after["shelf_life_months"]) == (60, None)


@pytest.mark.parametrize("months", [0, -6, 1201, "36", 36.0, 36.5, True, [36]])
def test_a_shelf_life_that_is_not_whole_months_in_range_is_refused_whole(
    uow: FakeUnitOfWork, deps: Deps, months: object
) -> None:
    document = plant()
    document["products"][1]["shelf_life_months"] = months
    with pytest.raises(InvalidInput) as refused:
        load(uow, deps, document)
    assert (refused.value.reason, refused.value.field) == (
        "masterdata.bad_type", "products[1].shelf_life_months",
    )  # fmt: skip
    assert repr(months) in refused.value.message
    assert "whole number of months from 1 to 1200" in refused.value.message
    assert uow.committed == 0 and uow.audit_log == []
    assert uow.records.find(object) == []


def test_a_misspelt_shelf_life_field_is_refused_not_ignored(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    document = plant()
    document["products"][0]["shelf_life"] = 36
    with pytest.raises(InvalidInput) as refused:
        load(uow, deps, document)
    assert (refused.value.reason, refused.value.field) == (
        "masterdata.unknown_field", "products[0].shelf_life",
    )  # fmt: skip
    assert "shelf_life_months" in refused.value.message
