"""Skip-lot plans per material and supplier: configured under change control, moved on by
every lot's disposition."""

from __future__ import annotations

from typing import Any

from labgate.compliance.canonical import to_jsonable
from labgate.domain.errors import Conflict, InvalidInput
from labgate.domain.masterdata import Material, SpecVersion
from labgate.domain.raw_materials import ConfigureSkipLotPlan, MaterialPlan, check_identity_tests
from labgate.domain.reasons import require_reason
from labgate.domain.sampling import RELEASE_SET
from labgate.domain.skip_lot import SkipLotPlan
from labgate.service.deps import Deps
from labgate.service.handlers.common import must_get, record
from labgate.service.unit_of_work import UnitOfWork


def configure_plan(cmd: ConfigureSkipLotPlan, uow: UnitOfWork, deps: Deps) -> str:
    """Set the plan of a material per supplier under change control; its running state stays."""
    reason = require_reason(cmd.reason, what="A change to a skip-lot plan")
    SkipLotPlan(cmd.clearance, cmd.fraction)  # refuses a plan the handbook does not define
    with uow:
        now = deps.clock.now()
        must_get(uow, Material, "material", "material", site=cmd.site, code=cmd.material)
        spec = _latest(uow, cmd.site, cmd.specification)
        check_identity_tests(
            [line.test_code for line in spec.lines_of(RELEASE_SET)], cmd.identity_tests
        )
        plan = uow.records.get(
            MaterialPlan, site=cmd.site, material=cmd.material, supplier=cmd.supplier
        )
        before = None if plan is None else plan_settings(plan)
        if plan is None:
            plan = MaterialPlan(
                cmd.site,
                cmd.material,
                cmd.supplier,
                specification=cmd.specification,
                identity_tests=list(cmd.identity_tests),
                clearance=cmd.clearance,
                fraction=cmd.fraction,
                changed_by=cmd.ctx.actor,
                changed_at=now,
                reason=reason,
            )
            uow.records.add(plan)
        else:
            plan.specification, plan.identity_tests = cmd.specification, list(cmd.identity_tests)
            plan.clearance, plan.fraction = cmd.clearance, cmd.fraction
            plan.changed_by, plan.changed_at, plan.reason = cmd.ctx.actor, now, reason
        subject = ("skip_lot_plan", plan_id(cmd.material, cmd.supplier), cmd.site)
        after = plan_settings(plan)
        record(
            uow,
            cmd.ctx,
            now,
            "skip_lot_plan.configured",
            subject,
            before=before,
            after=after,
            reason=reason,
        )
        uow.commit()
        return subject[1]


def plan_id(material: str, supplier: str) -> str:
    """The audit trail's record id of a plan."""
    return f"{material}/{supplier}"


def plan_settings(plan: MaterialPlan) -> dict[str, Any]:
    """A plan's parameters and running state, as audited and shown."""
    fields = (
        "material",
        "supplier",
        "specification",
        "identity_tests",
        "clearance",
        "fraction",
        "state",
        "consecutive_accepted",
        "changed_by",
        "changed_at",
        "reason",
    )
    settings: dict[str, Any] = to_jsonable({name: getattr(plan, name) for name in fields})
    return settings


def _latest(uow: UnitOfWork, site: str, specification: str) -> SpecVersion:
    versions = uow.records.find(SpecVersion, site=site, specification=specification)
    if not versions:
        raise InvalidInput(
            f"No specification {specification} in site {site}; import it first.",
            reason="specification.unknown",
            field="specification",
        )
    return max(versions, key=lambda v: v.version)


def load_plan(uow: UnitOfWork, site: str, material: str, supplier: str) -> MaterialPlan:
    found = uow.records.get(MaterialPlan, site=site, material=material, supplier=supplier)
    if found is None:
        raise Conflict(
            f"Material {material} from supplier {supplier} has no skip-lot plan; configure it "
            f"first (PUT /skip-lot-plans/{material}/{supplier}).",
            reason="skip_lot_plan.unknown",
            field="supplier",
        )
    return found
