"""The import's preview: the import's own plan of a document, refused as the import refuses it,
and nothing written; an import carrying the preview's hash writes exactly what was previewed."""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import pytest

from labgate.domain.commands import ImportMasterData, PreviewMasterDataImport
from labgate.domain.errors import Conflict, InvalidInput
from labgate.service.deps import Deps
from labgate.service.handlers.masterdata import (
    ImportPreview,
    import_masterdata,
    preview_masterdata_import,
)

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from test_masterdata_import import ADMIN, START, load, plant

from fakes import FakeUnitOfWork, ManualClock, TableUnits


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def deps() -> Deps:
    return Deps(clock=ManualClock(START), unit_converter=lambda _units: TableUnits({}))


def preview(uow: FakeUnitOfWork, deps: Deps, document: dict[str, Any]) -> ImportPreview:
    return preview_masterdata_import(PreviewMasterDataImport(ADMIN, document), uow, deps)


def test_the_preview_lists_what_the_import_would_create_and_writes_nothing(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    shown = preview(uow, deps, plant())
    assert uow.committed == 0 and uow.audit_log == []
    created = sum(counts.created for counts in shown.summary.sections.values())
    assert len(shown.changes) == created > 0
    assert {c.outcome for c in shown.changes} == {"created"}
    spec = next(c for c in shown.changes if c.record_id == "SPEC-IBU-400 v2")
    assert [f.name for f in spec.fields][:2] == ["author", "limits"]
    assert all(f.before is None for f in spec.fields)
    summary = load(uow, deps, plant())
    assert summary.sections == shown.summary.sections  # the same plan the import carried out


def test_an_update_shows_the_stored_and_the_new_value_of_each_changed_field(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    load(uow, deps, plant())
    document = plant()
    document["materials"][0]["name"] = "Ibuprofen, renamed"
    committed = uow.committed
    (change,) = preview(uow, deps, document).changes
    assert (change.section, change.outcome) == ("materials", "updated")
    (field,) = change.fields
    assert field.name == "name" and field.after == "Ibuprofen, renamed"
    assert field.before == plant()["materials"][0]["name"]
    assert uow.committed == committed


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_the_preview_refuses_an_update_a_change_request_must_make(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    load(uow, deps, plant())
    document = plant()
    document["tests"][0]["name"] = "Assay by HPLC, renamed"
    with pytest.raises(Conflict) as refused:
        preview(uow, deps, document)
    assert (refused.value.reason, refused.value.field) == (
        "masterdata.change_request_required", "tests[0]",
    )  # fmt: skip


def test_a_refused_document_is_refused_by_the_preview_as_by_the_import(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    document = plant()
    document["specifications"][0]["versions"][0]["limits"][0]["test"] = "NOPE"
    with pytest.raises(InvalidInput) as refused:
        preview(uow, deps, document)
    assert refused.value.reason == "masterdata.unknown_reference"
    assert refused.value.field == "specifications[0].versions[0].limits[0].test"


def test_an_import_carrying_a_stale_preview_is_refused_and_writes_nothing(
    uow: FakeUnitOfWork, deps: Deps
) -> None:
    load(uow, deps, plant())
    document = plant()
    document["materials"][0]["name"] = "Ibuprofen, renamed"
    seen = preview(uow, deps, document).plan_hash
    meanwhile = plant()
    meanwhile["materials"][0]["name"] = "Ibuprofen, renamed by someone else"
    load(uow, deps, meanwhile, "CC-7: renamed meanwhile")
    committed = uow.committed
    with pytest.raises(Conflict) as refused:
        import_masterdata(ImportMasterData(ADMIN, document, "CC-8: rename", seen), uow, deps)
    assert refused.value.reason == "masterdata.changed_since_preview"
    assert uow.committed == committed
    fresh = preview(uow, deps, document).plan_hash
    import_masterdata(ImportMasterData(ADMIN, document, "CC-8: rename", fresh), uow, deps)
    assert uow.committed == committed + 1
