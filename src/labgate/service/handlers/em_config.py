"""Environmental-monitoring configuration under change control: graded locations, points,
routes, schedules (a reason, audited before and after), and the site's limits (versioned, signed
by QA, old versions kept)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labgate.compliance.access import Permission
from labgate.compliance.canonical import to_jsonable
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.em_commands import (
    ConfigureEmLocation,
    ConfigureEmPoint,
    ConfigureEmRoute,
    ConfigureEmSchedule,
    SetEmLimit,
)
from labgate.domain.em_limits import parse_grade, parse_sample_type, parse_state
from labgate.domain.em_monitoring import (
    EmLocation,
    EmPoint,
    EmRoute,
    EmSample,
    EmSchedule,
    EmSiteLimit,
    Frequency,
)
from labgate.domain.em_rules import (
    check_points,
    check_site_limit,
    limits_in_force,
)
from labgate.domain.errors import Conflict, InvalidInput
from labgate.domain.masterdata import Location
from labgate.domain.reasons import require_reason
from labgate.service.deps import Deps
from labgate.service.handlers.common import apply_signature, check_signature, must_get, record
from labgate.service.unit_of_work import UnitOfWork


def configure_location(cmd: ConfigureEmLocation, uow: UnitOfWork, deps: Deps) -> str:
    """Grade a master-data location and place it in its room."""
    reason, grade = need_reason(cmd.reason), parse_grade(cmd.grade)
    _positive(cmd.lookback_days, "lookback_days")
    with uow:
        must_get(uow, Location, "location", "location", site=cmd.site, code=cmd.location)
        must_get(uow, Location, "location", "room", site=cmd.site, code=cmd.room)
        values = {"grade": grade, "room": cmd.room, "lookback_days": cmd.lookback_days}
        key = {"location": cmd.location}
        _configure(uow, cmd, deps, EmLocation, key, values, reason)
        uow.commit()
        return cmd.location


def configure_point(cmd: ConfigureEmPoint, uow: UnitOfWork, deps: Deps) -> str:
    """A sampling point of one sample type in a graded location."""
    reason, kind = need_reason(cmd.reason), parse_sample_type(cmd.sample_type, "sample_type")
    _positive(cmd.alerts_to_deviation, "alerts_to_deviation")
    with uow:
        must_get(uow, EmLocation, "em_location", "location", site=cmd.site, location=cmd.location)
        values = {
            "location": cmd.location,
            "sample_type": kind,
            "description": cmd.description,
            "alerts_to_deviation": cmd.alerts_to_deviation,
        }
        _configure(uow, cmd, deps, EmPoint, {"code": cmd.code}, values, reason)
        uow.commit()
        return cmd.code


def configure_route(cmd: ConfigureEmRoute, uow: UnitOfWork, deps: Deps) -> str:
    """A route: known points, each once, in the order they are sampled."""
    reason = need_reason(cmd.reason)
    check_points(cmd.points)
    with uow:
        for point in cmd.points:
            must_get(uow, EmPoint, "em_point", "points", site=cmd.site, code=point)
        values = {"name": cmd.name, "points": list(cmd.points)}
        _configure(uow, cmd, deps, EmRoute, {"code": cmd.code}, values, reason)
        uow.commit()
        return cmd.code


def configure_schedule(cmd: ConfigureEmSchedule, uow: UnitOfWork, deps: Deps) -> str:
    """When a route is sampled, in which state, and when it is next due."""
    reason, state = need_reason(cmd.reason), parse_state(cmd.state)
    frequency = parse_frequency(cmd.frequency)
    with uow:
        must_get(uow, EmRoute, "em_route", "route", site=cmd.site, code=cmd.route)
        values = {
            "route": cmd.route,
            "state": state,
            "frequency": frequency,
            "next_due": cmd.next_due,
        }
        _configure(uow, cmd, deps, EmSchedule, {"code": cmd.code}, values, reason)
        uow.commit()
        return cmd.code


def _configure(
    uow: UnitOfWork,
    cmd: ConfigureEmLocation | ConfigureEmPoint | ConfigureEmRoute | ConfigureEmSchedule,
    deps: Deps,
    kind: type,
    key: dict[str, str],
    values: dict[str, Any],
    reason: str,
) -> None:
    """Create or change one configuration record, audited with before and after; the record
    type in the trail is the table's name less its plural (em_location, em_point...)."""
    site = cmd.site
    now = deps.clock.now()
    found = uow.records.get(kind, site=site, **key)
    before = None if found is None else settings(found)
    changed = {"changed_by": cmd.ctx.actor, "changed_at": now, "reason": reason}
    if found is None:
        found = kind(site=site, **key, **values, **changed)
        uow.records.add(found)
    else:
        for name, value in (values | changed).items():
            setattr(found, name, value)
    record_type = kind.__table__.name.removesuffix("s")  # type: ignore[attr-defined]
    subject = (record_type, next(iter(key.values())), site)
    action = f"{record_type}.configured"
    after = settings(found)
    record(uow, cmd.ctx, now, action, subject, before=before, after=after, reason=reason)


def set_limit(cmd: SetEmLimit, uow: UnitOfWork, deps: Deps) -> str:
    """A new version of one cell of the site's limits, signed 'approved' by QA. Annex 1 action
    limits may only be tightened; the alert level must be below the action limit. A version may
    start in the past only where no sample has been judged since: results never change."""
    reason = need_reason(cmd.reason)
    grade, state = parse_grade(cmd.grade), parse_state(cmd.state)
    kind = parse_sample_type(cmd.sample_type, "sample_type")
    check_site_limit(grade, state, kind, cmd.action, cmd.alert)
    with uow:
        now = deps.clock.now()
        signer, meaning = check_signature(
            uow, cmd.ctx, cmd.signature, Permission.MANAGE_EM, SignedAction.CHANGE_EM_LIMITS
        )
        if cmd.location is not None:
            must_get(
                uow, EmLocation, "em_location", "location", site=cmd.site, location=cmd.location
            )
        _refuse_rewriting_results(uow, cmd, now)
        versions = uow.records.find(EmSiteLimit, site=cmd.site)
        before = limits_in_force(versions, grade, state, kind, cmd.location or "", now)
        number = uow.next_number(f"em_limit:{cmd.site}")
        version = EmSiteLimit(
            cmd.site,
            f"EML-{number:06d}",
            grade,
            state,
            kind,
            cmd.location,
            cmd.action,
            cmd.alert,
            cmd.effective_from,
            reason,
            signer.username,
            now,
        )
        uow.records.add(version)
        subject = ("em_limit", version.code, cmd.site)
        shown_before = {
            "version": before.version,
            "action": before.cell.action,
            "action_source": before.cell.source,
            "alert": before.alert,
        }
        record(
            uow,
            cmd.ctx,
            now,
            "em_limit.versioned",
            subject,
            before=shown_before,
            after=limit_content(version),
            reason=reason,
        )
        apply_signature(uow, cmd.ctx, now, signer, meaning, subject, limit_content(version))
        uow.commit()
        return version.code


def _refuse_rewriting_results(uow: UnitOfWork, cmd: SetEmLimit, now: datetime) -> None:
    """A version that starts before now must not reach a sample already judged."""
    if cmd.effective_from >= now:
        return
    judged = [
        s
        for s in uow.records.find(EmSample, site=cmd.site, grade=parse_grade(cmd.grade))
        if s.sampled_at is not None
        and s.sampled_at >= cmd.effective_from
        and (s.state.value, s.sample_type.value) == (cmd.state, cmd.sample_type)
        and cmd.location in (None, s.location)
    ]
    if judged:
        raise Conflict(
            f"EM sample {judged[0].code} taken since {cmd.effective_from.isoformat()} was already "
            "judged by the limits then in force; a new version cannot start before it.",
            reason="em.limit_backdated_over_results",
            field="effective_from",
        )


def limit_content(version: EmSiteLimit) -> dict[str, Any]:
    """What a limit version's signature binds to, and how it is shown."""
    fields = (
        "code",
        "grade",
        "state",
        "sample_type",
        "location",
        "action",
        "alert",
        "effective_from",
        "reason",
        "approved_by",
        "approved_at",
    )
    content: dict[str, Any] = to_jsonable({name: getattr(version, name) for name in fields})
    return content


def settings(found: object) -> dict[str, Any]:
    """A configuration record as audited and shown."""
    shown: dict[str, Any] = to_jsonable(found)
    return shown


def need_reason(text: str) -> str:
    """Change control: every change says why."""
    return require_reason(text, what="A change under change control")


def parse_frequency(text: str) -> Frequency:
    """shift, daily or weekly."""
    try:
        return Frequency(text)
    except ValueError:
        options = ", ".join(f.value for f in Frequency)
        raise InvalidInput(
            f"The frequency {text!r} is unknown; use one of {options}.",
            reason="em.frequency_unknown",
            field="frequency",
        ) from None


def _positive(value: int, field: str) -> None:
    if value < 1:
        raise InvalidInput(
            f"{field.replace('_', ' ')} must be 1 or more.", reason="em.not_positive", field=field
        )
