"""Migration 0008 on SQLite and PostgreSQL: samples drawn at sampling points before it enter the
gates with the MES status the domain gives them, cancelled ones marked so."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import delete, select

import labgate.adapters.store.migrations.versions as versions
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from plant import Plant, approved_result, request_sample


def entries(hub: Hub) -> set[tuple[str, str, str, bool]]:
    e = t.gate_entries.c
    with hub.engine.connect() as connection:
        rows = connection.execute(select(e.sample, e.sampling_point, e.mes_status, e.cancelled))
        return {(sample, point, status, cancelled) for sample, point, status, cancelled in rows}


def test_migration_0008_enters_existing_samples_as_the_domain_sees_them(
    hub: Hub, plant: Plant
) -> None:
    accepted, rejected, pending, cancelled, retested = (
        request_sample(plant, f"REQ-{n}") for n in range(1, 6)
    )
    for test, value, unit in (("ASSAY", "99.5", "%"), ("WATER", "0.2", "%"),
                              ("APPEAR", "White tablet", None)):  # fmt: skip
        approved_result(plant, accepted, test, value, unit)
    approved_result(plant, rejected, "ASSAY", "97.0", "%")
    approved_result(plant, pending, "ASSAY", "99.5", "%")
    body = {"reason": "Batch scrapped"}
    assert plant.call("qa", "POST", f"/samples/{cancelled}/cancellation", json=body).is_success
    first = approved_result(plant, retested, "ASSAY", "97.0", "%")
    body = {"reason": "Wrong dilution", "signature": plant.signature("reviewer", "invalidated")}
    assert plant.call("reviewer", "POST", f"/results/{first}/invalidation", json=body).is_success
    approved_result(plant, retested, "ASSAY", "99.5", "%")
    kept = entries(hub)
    assert kept == {
        (accepted, "SP-REL", "Accepted", False),
        (rejected, "SP-REL", "Rejected", False),
        (pending, "SP-REL", "Pending", False),
        (cancelled, "SP-REL", "Cancelled", True),
        (retested, "SP-REL", "Pending", False),  # its retest speaks; WATER and APPEAR to come
    }
    with hub.engine.begin() as connection:  # as the database was before the revision
        connection.execute(delete(t.gate_entries))
        with Operations.context(MigrationContext.configure(connection)):
            revision("0008_ipc_gate_push").upgrade_data()
            revision("0018_cancelled_samples").upgrade_data()  # and what 0018 corrects
    assert entries(hub) == kept


def revision(name: str) -> Any:
    path = Path(versions.__file__).parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"revision_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
