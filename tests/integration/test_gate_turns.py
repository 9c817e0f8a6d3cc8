"""Two transactions that complete the samples of one operation at once decide its gate in turn,
so the MES is never left holding an operation that may complete."""

from __future__ import annotations

import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from labgate.adapters.store.uow import SqlUnitOfWork
from labgate.bootstrap import Hub
from labgate.domain.commands import Context, ImportMasterData
from labgate.domain.gates import GateTold
from plant import IPC_PLAN, PLANT, Plant, plan_version
from senders import Sender, register


def with_ipc_point() -> dict[str, Any]:
    document = copy.deepcopy(PLANT)
    [procedure] = document["procedures"]
    procedure["sampling_points"].append(
        {"code": "SP-IPC", "phase": "PROC1/UP1/OP1/PH1", "sample_type": "IPC", "gate": "block"}
    )
    return document


def result(sender: Sender, sample: str, test: str, value: str, unit: str | None) -> bytes:
    payload = {"sample": sample, "test_code": test, "value": value, "unit": unit,
               "method_version": "1", "analyst": "analyst", "lims_status": "approved",
               "reviewer": "reviewer", "approved_at": "2026-11-24T12:00:00Z"}  # fmt: skip
    return sender.envelope("labgate.result.v1", payload)


def test_two_last_results_of_one_operation_decide_its_gate_in_turn(
    hub: Hub, plant: Plant, mes: Sender, lims: Sender, monkeypatch: Any
) -> None:
    # The first transaction pauses after deciding, holding the batch; the second completes the
    # other sample meanwhile. Without the batch lock the second decides from a view in which
    # the first sample is still Pending and tells the MES to hold (seen on PostgreSQL).
    hub.bus.handle(ImportMasterData(Context("admin"), with_ipc_point(), "CR-11: IPC point"))
    plan_version(plant, [IPC_PLAN])
    other = Sender(hub, "lims", "results-2", "lims-2", register(hub, "lims", "lims-2"))
    samples = []
    for request_id, point in (("REQ-REL", "SP-REL"), ("REQ-IPC", "SP-IPC")):
        payload = {"mes_request_id": request_id, "product": "P1", "batch": "B1",
                   "sampled_at": "2026-11-24T10:00:00Z", "sampling_point": point}  # fmt: skip
        asked = mes.envelope("labgate.sample_request.v1", payload)
        assert mes.send(asked).status == "applied"
        sample = f"S-{len(samples) + 1:06d}"
        lims.send(lims.envelope("labgate.sample_registration.v1", {"sample": sample}))
        for test, value, unit in (("ASSAY", "99.5", "%"), ("WATER", "0.2", "%")):
            assert lims.send(result(lims, sample, test, value, unit)).status == "applied"
        samples.append(sample)
    deciding, go = threading.Event(), threading.Event()
    last_told = SqlUnitOfWork.last_told

    def decided_then_wait(*args: Any) -> dict[str, GateTold]:
        told = last_told(*args)
        if not deciding.is_set():
            deciding.set()
            assert go.wait(10)
        return told

    monkeypatch.setattr(SqlUnitOfWork, "last_told", decided_then_wait)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(lims.send, result(lims, samples[0], "APPEAR", "White tablet", None))
        assert deciding.wait(10)
        second = pool.submit(other.send, result(other, samples[1], "APPEAR", "White tablet", None))
        time.sleep(0.5)  # the second is now waiting for the batch, or it decided without it
        go.set()
        assert (first.result(30).status, second.result(30).status) == ("applied", "applied")
    with hub.uow_factory() as uow:
        gates = uow.records.find(GateTold, site="T1", batch="B1")
        said = [(g.may_complete, g.waiting_for) for g in gates]
    assert said[-1] == (True, "")
