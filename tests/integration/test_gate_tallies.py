"""The gates' sample counts, taken by the database on SQLite and on PostgreSQL: per point, live
samples by MES status, and the Rejected ones no deviation covers; cancelled ones and other
batches' do not count."""

from __future__ import annotations

from datetime import UTC, datetime

from labgate.bootstrap import Hub
from labgate.domain.deviations import Deviation
from labgate.domain.gates import GateEntry, GateTold, PointTally
from labgate.domain.status_map import MesStatus
from labgate.service.unit_of_work import UnitOfWork

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


def test_the_last_gate_told_is_each_operations_newest_row_wherever_it_lies(hub: Hub) -> None:
    told = [
        ("B1", "OP-1", False, "SP-A", "m1"), ("B1", "OP-2", False, "SP-B", "m2"),
        ("B2", "OP-1", True, "", "m3"),  # another batch, newer
        ("B1", "OP-1", True, "", "m4"), ("B1", "OP-3", False, "SP-C", "m5"),
        ("B1", "OP-1", False, "SP-A,SP-D", "m6"), ("B3", "OP-2", True, "", "m7"),
    ]  # fmt: skip
    with hub.uow_factory() as uow:
        for batch, operation, may_complete, waiting, message in told:
            uow.records.add(GateTold("T1", batch, operation, may_complete, waiting, AT, message))
        uow.commit()
    with hub.uow_factory() as uow:
        last = uow.last_told("T1", "B1", ["OP-1", "OP-2", "OP-9"])
        from_history = UnitOfWork.last_told(uow, "T1", "B1", ["OP-1", "OP-2", "OP-9"])
        assert {op: g.message_id for op, g in last.items()} == {"OP-1": "m6", "OP-2": "m2"}
        assert last == from_history  # the database's answer is the history's
        assert last["OP-1"].tells(("SP-A", "SP-D")) and not last["OP-1"].tells(())
