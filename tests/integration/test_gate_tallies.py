"""The gates' sample counts, taken by the database on SQLite and on PostgreSQL: per point, live
samples by MES status, and the Rejected ones no deviation covers; cancelled ones and other
batches' do not count."""

from __future__ import annotations

from datetime import UTC, datetime

from labgate.bootstrap import Hub
from labgate.domain.deviations import Deviation
from labgate.domain.gates import GateEntry, PointTally
from labgate.domain.status_map import MesStatus

A, P, R = MesStatus.ACCEPTED, MesStatus.PENDING, MesStatus.REJECTED
AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def deviation(code: str, sample: str, batch: str) -> Deviation:
    return Deviation("T1", code, "oos", sample, f"{sample}-R1", "ASSAY", "analyst", batch, None,
                     AT, "qa", "OOS")  # fmt: skip


def test_the_database_counts_each_points_samples_as_the_gates_see_them(hub: Hub) -> None:
    entries = [
        ("B1", "SP-A", "S-1", A, False), ("B1", "SP-A", "S-2", A, False),
        ("B1", "SP-A", "S-3", P, False), ("B1", "SP-A", "S-4", R, False),
        ("B1", "SP-A", "S-5", R, False), ("B1", "SP-A", "S-6", P, True),  # cancelled
        ("B1", "SP-B", "S-7", R, False), ("B2", "SP-B", "S-8", R, False),  # another batch
        ("B2", "SP-A", "S-9", P, False),
    ]  # fmt: skip
    with hub.uow_factory() as uow:
        for batch, point, sample, status, cancelled in entries:
            uow.records.add(GateEntry("T1", batch, point, sample, status, cancelled))
        # S-4 is covered; S-8's deviation is on batch B2 and covers nothing in B1.
        uow.records.add(deviation("DEV-1", "S-4", "B1"))
        uow.records.add(deviation("DEV-2", "S-8", "B2"))
        uow.commit()
    with hub.uow_factory() as uow:
        tallies = uow.gate_tallies("T1", "B1", ["SP-A", "SP-B", "SP-C"])
    assert tallies == {
        "SP-A": PointTally(drawn=5, pending=1, rejected=2, uncovered=1),
        "SP-B": PointTally(drawn=1, pending=0, rejected=1, uncovered=1),
        "SP-C": PointTally(),
    }
    with hub.uow_factory() as uow:
        assert uow.gate_tallies("T1", "B2", ["SP-B"]) == {"SP-B": PointTally(1, 0, 1, 0)}
