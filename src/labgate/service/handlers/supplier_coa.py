"""The supplier's certificate of analysis for a received lot, judged against labgate's limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labgate.compliance.canonical import to_jsonable
from labgate.domain.errors import LabgateError
from labgate.domain.limits import evaluate
from labgate.domain.masterdata import MethodVersion, SpecVersion, TestDefinition
from labgate.domain.numbers import RoundingPolicy
from labgate.domain.raw_materials import ImportSupplierCoa, ReceivedLot, SupplierValue
from labgate.domain.samples import Sample
from labgate.service.deps import Deps
from labgate.service.handlers.common import must_get, record
from labgate.service.unit_of_work import UnitOfWork


def import_supplier_coa(cmd: ImportSupplierCoa, uow: UnitOfWork, deps: Deps) -> str:
    """Keep the supplier's values and judge each against labgate's limit; a value outside it
    is flagged, not a rejection by itself."""
    with uow:
        now = deps.clock.now()
        lot = must_get(uow, ReceivedLot, "lot", "lot", site=cmd.site, code=cmd.lot)
        sample = must_get(uow, Sample, "sample", "sample", site=cmd.site, code=lot.sample)
        spec = must_get(
            uow,
            SpecVersion,
            "specification",
            "lot",
            site=cmd.site,
            specification=sample.specification,
            version=sample.spec_version,
        )
        before = list(lot.supplier_coa)
        lot.supplier_coa = [_judge(uow, cmd.site, spec, value, now) for value in cmd.values]
        record(
            uow,
            cmd.ctx,
            now,
            "lot.supplier_coa_imported",
            ("lot", lot.code, cmd.site),
            before={"supplier_coa": before},  # snapshots are objects, as everywhere in the trail
            after={"supplier_coa": lot.supplier_coa},
            reason=f"supplier CoA of lot {lot.supplier_lot} from {lot.supplier}",
        )
        uow.commit()
        return lot.code


def _judge(
    uow: UnitOfWork, site: str, spec: SpecVersion, value: SupplierValue, at: datetime
) -> dict[str, Any]:
    """The supplier's value with labgate's limit and whether it lies within it (None: not
    comparable, e.g. another unit)."""
    line = spec.limit_for(value.test_code)
    test = must_get(uow, TestDefinition, "test", "test_code", site=site, code=value.test_code)
    method = must_get(
        uow,
        MethodVersion,
        "method_version",
        "test_code",
        site=site,
        method=test.method,
        version=test.current_method_version,
    )
    within: bool | None = None
    note = None
    if value.unit != test.unit:
        note = f"unit {value.unit} is not labgate's {test.unit}: not compared"
    else:
        try:
            policy = RoundingPolicy(method.rounding_rule, method.sig_figs)
            within = evaluate(value.value, line.rule(), policy).conforms
        except LabgateError as error:
            note = f"not comparable: {error}"
    entry = {
        "test_code": value.test_code,
        "value": value.value,
        "unit": value.unit,
        "limit": line.limit,
        "within_limit": within,
        "flagged": within is not True,
        "note": note,
        "imported_at": at,
    }
    return dict(to_jsonable(entry))
