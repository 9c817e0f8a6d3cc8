"""A lot's status to an MES that speaks B2MML: labgate.lot_status.v1 as a SyncMaterialLot,
valid against the MESA schemas (B2MML is used courtesy of MESA International)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from labgate.adapters.codecs.b2mml import NS, parse_xml, validate
from labgate.adapters.codecs.b2mml_messages import to_b2mml
from labgate.service.messages import OUTBOUND

SENT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
B = {"b": NS}


def lot_status(status: str) -> dict[str, Any]:
    payload = {"site": "T1", "lot": "RM-000003", "material": "API-1", "supplier": "SUP-1",
               "supplier_lot": "SL-3", "status": status, "sample_id": "S-000003",
               "full_panel": False, "decided_by": "qa",
               "decided_at": "2026-11-25T09:00:00.000000Z", "reason": "QA disposition"}  # fmt: skip
    OUTBOUND["labgate.lot_status.v1"].model_validate(payload)
    return payload


@pytest.mark.parametrize(("status", "disposition"),
                         [("released", "UnRestricted"), ("rejected", "Restricted")])  # fmt: skip
def test_a_lot_status_goes_out_as_a_sync_material_lot(status: str, disposition: str) -> None:
    xml = to_b2mml("labgate.lot_status.v1", lot_status(status), message_id="m-1", sent_at=SENT)
    assert validate(xml) == []
    lot = parse_xml(xml).xpath("/b:SyncMaterialLot/b:DataArea/b:MaterialLot", namespaces=B)[0]
    assert lot.xpath("b:ID/text()", namespaces=B) == ["RM-000003"]
    assert lot.xpath("b:Status/text()", namespaces=B) == [status]
    assert lot.xpath("b:Disposition/text()", namespaces=B) == [disposition]
    keys = lot.xpath("b:MaterialLotProperty/b:ID/text()", namespaces=B)
    assert keys == ["supplier", "supplier_lot", "sample_id", "decided_by", "reason", "full_panel",
                    "decided_at"]  # fmt: skip
