"""Stability and out-of-trend alerts: the studies (the rows of GET .../stability-studies), a
study with its pulls, its trend and Q1E estimate as GET .../trend gives them and the plot of
GET .../plot with the out-of-trend results ringed; the OOT alerts and an alert's signed
assessment, sent as the API's POST .../acknowledgement sends it (AcknowledgeOotAlert)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from labgate.adapters.reports.stability_report import series_plot, with_estimates
from labgate.adapters.store import stability_views as views
from labgate.adapters.store.document_facts import readable
from labgate.compliance.access import Permission
from labgate.compliance.signatures import Meaning
from labgate.domain.commands import Context, SignatureInput
from labgate.domain.errors import LabgateError
from labgate.domain.stability_commands import AcknowledgeOotAlert
from labgate.domain.trending import AlertStatus
from labgate.entrypoints.api.answers.stability import STABILITY_PEOPLE
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.labdata import Listing, after, lab_frame, paging, signed
from labgate.entrypoints.web.layout import site_view
from labgate.entrypoints.web.render import filtered_list, page, prefix

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=300)]
STUDIES, ALERTS = "stability-studies", "oot-alerts"
WAITING = ("due", "overdue")


def _base(request: Request, site: str) -> str:
    return f"{prefix(request)}/sites/{site}"


@router.get("/sites/{site}/stability", name="stability_studies")
def studies(
    request: Request, site: str, who: Reading, limit: Limit = 25, cursor: Cursor = None
) -> Response:
    """The site's studies, newest first, each with its pulls due or overdue now."""
    shown = site_view(request, site)
    asked = Listing(None, limit, cursor or None)
    hub = hub_of(request)
    now = hub.bus.deps.clock.now()
    with hub.sessions() as session:
        found = views.studies_page(session, site, after(STUDIES, asked), limit)
        waiting = readable(session, site, {
            row["code"]: [
                p
                for p in views.study_view(session, site, row["code"], now)["schedule"]
                if p["state"] in WAITING
            ]
            for row in found.rows
        })  # fmt: skip
        found.rows[:] = readable(session, site, found.rows)
    here = f"{_base(request, site)}/stability"
    values = {**lab_frame(request, who, shown, "stability"), "waiting": waiting,
              **paging(STUDIES, asked, here, found)}  # fmt: skip
    return filtered_list(request, "stability.html", "studies", values, asked, here)


def _marks(alerts: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The alert of each (sample, test), to mark its point out of trend."""
    return {(a["sample"], a["test_code"]): a for a in alerts}


@router.get("/sites/{site}/stability/{study}", name="stability_study")
def study_page(request: Request, site: str, study: str, who: Reading) -> Response:
    """A study: protocol, schedule of pulls, signatures, and per test and condition the trend
    with its Q1E estimate (or why there is none yet) and the OOT alerts on its points."""
    shown = site_view(request, site)
    hub = hub_of(request)
    with hub.sessions() as session:
        view = readable(
            session, site, views.study_view(session, site, study, hub.bus.deps.clock.now()),
            STABILITY_PEOPLE,
        )  # fmt: skip
        trend = with_estimates(views.trend_data(session, site, study))
        points = {p["sample"] for s in trend["series"] for p in s["points"]}
        alerts = views.alerts_of_samples(session, site, points)
    values = {
        **lab_frame(request, who, shown, "stability"),
        "study": view,
        "trend": trend,
        "marks": _marks(alerts),
        "here": f"{_base(request, site)}/stability/{study}",
        "alerts_at": f"{_base(request, site)}/oot-alerts",
    }
    return page(request, "stability_study.html", values)


@router.get("/sites/{site}/stability/{study}/plot.png", name="stability_plot")
def plot(
    request: Request,
    site: str,
    study: str,
    who: Reading,
    test: Annotated[str, Query(max_length=64)],
    condition: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The API's Q1E plot of one series, its out-of-trend points ringed."""
    site_view(request, site)
    with hub_of(request).sessions() as session:
        trend = views.trend_data(session, site, study)
        samples = {p["sample"] for s in trend["series"] for p in s["points"]}
        alerts = views.alerts_of_samples(session, site, samples)
    marked = frozenset(a["sample"] for a in alerts if a["test_code"] == test)
    png = series_plot(trend, test, condition, marked)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


Status = Annotated[Literal["", "open", "acknowledged", "withdrawn"] | None, Query()]


@router.get("/sites/{site}/oot-alerts", name="oot_alerts")
def alerts(
    request: Request,
    site: str,
    who: Reading,
    status: Status = None,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Response:
    """OOT alerts as GET .../oot-alerts lists them, newest first; `status=open` awaits review."""
    shown = site_view(request, site)
    asked = Listing(status or None, limit, cursor or None)
    wanted = AlertStatus(asked.status) if asked.status else None
    with hub_of(request).sessions() as session:
        found = views.alerts_page(session, site, None, wanted, after(ALERTS, asked), limit)
        found.rows[:] = readable(session, site, found.rows, STABILITY_PEOPLE)
    here = f"{_base(request, site)}/oot-alerts"
    values = {**lab_frame(request, who, shown, "oot"), **paging(ALERTS, asked, here, found),
              "statuses": [s.value for s in AlertStatus]}  # fmt: skip
    return filtered_list(request, "oot_alerts.html", "alerts", values, asked, here)


def _alert_values(request: Request, who: Visitor, site: str, code: str) -> dict[str, Any]:
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        view = readable(session, site, views.alert_view(session, site, code), STABILITY_PEOPLE)
    return {
        **lab_frame(request, who, shown, "oot"),
        "alert": view,
        "here": f"{_base(request, site)}/oot-alerts/{code}",
        "may_acknowledge": who.may(Permission.ACKNOWLEDGE_OOT) and view["status"] == "open",
        "refused": None,
        "done": None,
        "typed": "",
    }


@router.get("/sites/{site}/oot-alerts/{alert}", name="oot_alert")
def alert_page(
    request: Request,
    site: str,
    alert: str,
    who: Reading,
    done: Literal["acknowledged"] | None = None,
) -> Response:
    """An alert: the chart's numbers, exact, and its signed assessment once given."""
    values = _alert_values(request, who, site, alert)
    values["done"] = done
    return page(request, "oot_alert.html", values)


@router.post("/sites/{site}/oot-alerts/{alert}/acknowledgement", name="oot_acknowledge")
async def acknowledge(
    request: Request,
    site: str,
    alert: str,
    who: Annotated[Visitor, Depends(allowed(Permission.ACKNOWLEDGE_OOT))],
) -> Response:
    """The assessment, signed with the meaning the action carries: reviewed."""
    typed: dict[str, str] = {}

    def build(ctx: Context, form: dict[str, str], signature: SignatureInput) -> AcknowledgeOotAlert:
        typed["assessment"] = form.get("assessment", "")
        return AcknowledgeOotAlert(ctx, site, alert, typed["assessment"], signature)

    async def refused(error: LabgateError) -> Response:
        values = await run_in_threadpool(_alert_values, request, who, site, alert)
        values |= {"refused": error, "typed": typed.get("assessment", "")}
        return page(request, "oot_alert.html", values, status=http_status(error))

    done = f"{_base(request, site)}/oot-alerts/{alert}?done=acknowledged"
    return await signed(request, who, Meaning.REVIEWED, build, done, refused)
