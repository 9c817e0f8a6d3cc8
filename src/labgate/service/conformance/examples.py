"""What labgate sends each partner (the ICD's outbound message types per destination) and one
well-formed payload of each, as the reactions build them, for a conformance run to send."""

from __future__ import annotations

import copy
from typing import Any

from labgate.service.messages import OUTBOUND

LIMS_TYPES = ("labgate.lims_sample_request.v1", "labgate.sample_cancelled.v1")
# The MES is told everything else labgate sends, a cancelled sample included.
MES_TYPES = tuple(sorted(s for s in OUTBOUND if s != "labgate.lims_sample_request.v1"))
PARTNER_TYPES: dict[str, tuple[str, ...]] = {"mes": MES_TYPES, "lims": LIMS_TYPES}

_AT = "2026-11-25T10:00:00.000000Z"
_SAMPLE = {"sample_id": "S-CONF-0001", "mes_request_id": "CONF-0001"}
_TEST = {"test_code": "ASSAY", "method": "M-ASSAY", "method_version": "1"}

_EXAMPLES: dict[str, dict[str, Any]] = {
    "labgate.lims_sample_request.v1": {**_SAMPLE, "tests": [_TEST]},
    "labgate.sample_acknowledgement.v1": {
        **_SAMPLE, "lims_sample_id": "LIMS-CONF-0001", "specification": "SPEC-CONF",
        "tests": [{**_TEST, "characteristic": "CH-ASSAY"}],
    },
    "labgate.result_status.v1": {
        **_SAMPLE, "result_id": "S-CONF-0001-R1", "test_code": "ASSAY",
        "lims_status": "preliminary", "result_status": "Pending",
    },
    "labgate.mes_result.v1": {
        **_SAMPLE, "batch": "B-CONF-1", "lot": None, "sampling_point": "SP-CONF",
        "characteristic": "CH-ASSAY", "result_id": "S-CONF-0001-R1", **_TEST,
        "analyst": "analyst-conf", "reviewer": "reviewer-conf", "approved_at": _AT,
        "raw_value": "99.84", "raw_unit": "%", "unit": "%", "conversion_factor": "1",
        "calculated_value": "99.84", "reported_value": "99.8", "rounding": "ROUND_HALF_UP:1",
        "limit_set": "LS-CONF", "specification": "SPEC-CONF", "spec_version": 1,
        "conforms": True, "band": "none", "lims_status": "approved",
        "result_status": "Accepted", "supersedes": None,
    },
    "labgate.result_invalidated.v1": {
        **_SAMPLE, "result_id": "S-CONF-0001-R1", "test_code": "ASSAY",
        "reason": "Conformance run: a sample message.", "result_status": "Pending",
        "superseded": False,
    },
    "labgate.sample_cancelled.v1": {
        **_SAMPLE, "reason": "Conformance run: a sample message.", "sample_status": "Cancelled",
    },
    "labgate.batch_hold.v1": {
        **_SAMPLE, "batch": "B-CONF-1", "lot": None, "hold": "on", "deviation": "DEV-CONF-1",
        "kind": "oos", "result_id": "S-CONF-0001-R1", "reason": "OOS under investigation.",
    },
    "labgate.batch_disposition.v1": {
        "batch": "B-CONF-1", "product": "P-CONF", "disposition": "released",
        "signed_by": "qa-conf", "signed_at": _AT, "reason": "Conformance run.",
        "samples": ["S-CONF-0001"],
    },
    "labgate.lot_status.v1": {
        "lot": "L-CONF-1", "material": "MAT-CONF", "supplier": "SUP-CONF",
        "supplier_lot": "SL-1", "status": "released", "sample_id": "S-CONF-0001",
        "full_panel": True, "decided_by": "qa-conf", "decided_at": _AT, "reason": "Conforms.",
    },
    "labgate.operation_gate.v1": {
        "batch": "B-CONF-1", "product": "P-CONF", "procedure": "PROC-CONF",
        "operation": "OP-CONF", "may_complete": False, "hold": "on",
        "waiting_for": ["SP-CONF"], "decided_at": _AT,
        "points": [{"sampling_point": "SP-CONF", "gate": "block", "passes": False,
                    "why": "Waiting for an Accepted sample."}],
    },
}  # fmt: skip


def example(schema: str, site: str) -> dict[str, Any]:
    """A well-formed payload of `schema` for `site` (a fresh copy each time)."""
    return {"site": site, **copy.deepcopy(_EXAMPLES[schema])}


def drifted(schema: str, site: str) -> list[tuple[str, dict[str, Any]]]:
    """Payloads that drift from the schema: a member it does not know, a member of the wrong
    type (the first string member given as a number)."""
    unknown = {**example(schema, site), "x_unannounced": "drift"}
    wrong = example(schema, site)
    name = next(k for k, v in wrong.items() if isinstance(v, str) and k != "site")
    wrong[name] = 12345
    return [("unknown member x_unannounced", unknown), (f"{name} given as a number", wrong)]
