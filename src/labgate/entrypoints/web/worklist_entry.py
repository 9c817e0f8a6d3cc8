"""Result entry for one sample: a form per planned test that still waits for a result (the
retest of an invalidated one included), posting the command POST /api/v1/sites/{site}/results
sends. The value is kept as typed; the unit is one the result handler converts to the test's
canonical unit; the method version is the plan's. What was entered is shown as GET
.../samples/{sample} gives it: raw value, conversion, rounding, evaluation, signatures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.adapters.store import views
from labgate.adapters.store.document_facts import PERSON_KEYS, readable, reader
from labgate.compliance.access import Permission
from labgate.domain.commands import RecordResult
from labgate.domain.errors import LabgateError
from labgate.domain.lifecycle import SampleStatus
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page, prefix
from labgate.entrypoints.web.worklist import bounded
from labgate.service.messages import KEY_LENGTH, VALUE_LENGTH
from labgate.service.units import units_convertible

router = APIRouter()
Testing = Annotated[Visitor, Depends(allowed(Permission.ENTER_RESULT))]
Code = Annotated[str | None, Query(max_length=64)]
OPEN = (SampleStatus.REGISTERED.value, SampleStatus.IN_TESTING.value)


def _rows(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """Each planned test with its results, newest first, the active one (not invalidated) named,
    the invalidated result a new entry would retest, and whether it takes an entry now."""
    takes = sample["status"] in OPEN
    rows = []
    for planned in sample["tests"]:
        results = [x for x in sample["results"] if x["test_code"] == planned["test_code"]]
        active = next((x for x in results if x["status"] != "invalidated"), None)
        open_retest = next((x for x in results if x["status"] == "invalidated"
                            and x["superseded_by"] is None), None)  # fmt: skip
        form = takes and active is None and planned["status"] != "cancelled"
        rows.append({"test": planned, "results": results[::-1], "active": active,
                     "retest_of": open_retest, "form": form})  # fmt: skip
    return rows


def entry_values(request: Request, who: Visitor, site: str, code: str) -> dict[str, Any]:
    """The sample as the API's view gives it, its tests' forms and their units."""
    shown = site_view(request, site)
    hub = hub_of(request)
    with hub.sessions() as session:
        view = views.sample_view(session, site, code)
        sample = readable(session, site, view, PERSON_KEYS | {"invalidated_by"})
        u, d = t.units.c, t.test_definitions.c
        unit_names = {code: name for code, name in session.execute(select(u.code, u.name))}
        tests = select(d.code, d.name).where(d.site == site)
        test_names = {code: name for code, name in session.execute(tests)}
        people = reader(session, site, [])
    canonical = {x["unit"] for x in sample["tests"] if x["unit"]}
    units = units_convertible(hub.uow_factory(), hub.bus.deps, canonical)
    return {
        **frame(request, who, shown, "worklist"),
        "sample": sample,
        "rows": _rows(sample),
        "units": units,
        "unit_names": unit_names,
        "test_names": test_names,
        "people": people,
        "takes_results": sample["status"] in OPEN,
        "refused_elsewhere": False,
        "may_register": who.may(Permission.REGISTER_SAMPLE),
        "here": f"{prefix(request)}/sites/{site}/worklist/{code}",
        "worklist": f"{prefix(request)}/sites/{site}/worklist",
        "review": f"{prefix(request)}/sites/{site}/review",
        "done": None,
        "entered": None,
        "refused": None,
        "typed": {},
    }


@router.get("/sites/{site}/worklist/{sample}", name="worklist_entry")
def entry(
    request: Request,
    site: str,
    sample: str,
    who: Testing,
    done: Annotated[str | None, Query(pattern="^registered$")] = None,
    entered: Code = None,
) -> Response:
    """The sample's tests, their results and the forms of those still waiting; `entered`
    names the result just recorded, shown with its evaluation."""
    values = entry_values(request, who, site, sample)
    values["done"] = done
    values["entered"] = next((x for x in values["sample"]["results"] if x["code"] == entered), None)
    return page(request, "worklist_entry.html", values)


def _command(request: Request, who: Visitor, site: str, sample: str,
             form: dict[str, str]) -> RecordResult:  # fmt: skip
    """The form as the API's body: its bounds, then the command (the analyst is the caller)."""
    return RecordResult(
        context(request, who.account.username),
        site,
        sample,
        test_code=bounded(form, "test_code", KEY_LENGTH, required=True) or "",
        value=bounded(form, "value", VALUE_LENGTH, required=True) or "",
        unit=bounded(form, "unit", KEY_LENGTH, required=False),
        method_version=bounded(form, "method_version", KEY_LENGTH, required=True) or "",
        analyst=who.account.username,
        retest_of=bounded(form, "retest_of", KEY_LENGTH, required=False),
    )


async def _shown_again(
    request: Request, who: Visitor, site: str, sample: str, error: LabgateError
) -> dict[str, Any]:
    """The entry page again, to show the refusal beside its form; when the sample itself is
    unknown there is no such page, and the refusal has its own (audited once, above)."""
    try:
        values: dict[str, Any] = await run_in_threadpool(entry_values, request, who, site, sample)
    except LabgateError:
        raise error from None
    return values


@router.post("/sites/{site}/worklist/{sample}/results", name="worklist_record")
async def record(request: Request, site: str, sample: str, who: Testing) -> Response:
    """Record a preliminary result; the refusal, if any, beside the test's form with the field,
    the rule and the reason code (audited by the bus, or here for a bound the console checks)."""
    form = await posted_form(request, who)
    try:
        command = _command(request, who, site, sample, form)
        code = await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        await audit(request, error)
        values = await _shown_again(request, who, site, sample, error)
        refused_test = form.get("test_code", "")
        values["refused"] = {"test": refused_test, "error": error}
        values["refused_elsewhere"] = all(
            row["test"]["test_code"] != refused_test or not row["form"] for row in values["rows"]
        )  # no form of that test on the page: the refusal is shown above the tests
        values["typed"] = {k: form.get(k, "") for k in ("test_code", "value", "unit")}
        return page(request, "worklist_entry.html", values, status=http_status(error))
    # Post/redirect/get: reloading the page does not enter the result twice.
    return RedirectResponse(
        f"{prefix(request)}/sites/{site}/worklist/{sample}?entered={code}#result", status_code=303
    )
