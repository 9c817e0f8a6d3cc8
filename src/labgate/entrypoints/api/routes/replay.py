"""Replays: a stored result or batch decision recomputed and compared with the record."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store.replay_view import ReplayView
from labgate.compliance.access import Account, Permission
from labgate.entrypoints.api.answers.replay import Replay
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.scope import SiteScope
from labgate.service.replay import steps
from labgate.service.replay.audited import Replayer, replay_stored_batch, replay_stored_result

router = APIRouter(prefix="/api/v1/sites/{site}", tags=["evidence"], dependencies=[SiteScope])


@router.get(
    "/results/{result}/replay",
    summary="Replay a result's decision and compare it with the record",
    openapi_extra=refuses({404: ("result.unknown",)}),
)
async def replay_result(
    request: Request, site: str, result: str, _: Account = allowed(Permission.READ_AUDIT)
) -> Replay:
    """Binding, conversion, rounding, evaluation and MES status recomputed from the raw value
    and the versions the sample was bound to; `differs` names each step that does not give the
    stored bytes. Each replay is audited."""
    return await _replayed(request, replay_stored_result, site, result)


@router.get(
    "/batches/{batch}/replay",
    summary="Replay a batch's results, disposition checks and decision",
    openapi_extra=refuses({404: ("batch.unknown",)}),
)
async def replay_batch(
    request: Request, site: str, batch: str, _: Account = allowed(Permission.READ_AUDIT)
) -> Replay:
    """Every result of the batch, its samples' MES statuses, its release checks and QA's
    decision, each judged on the results as stored and as recomputed. Each replay is audited."""
    return await _replayed(request, replay_stored_batch, site, batch)


async def _replayed(request: Request, replay: Replayer, site: str, code: str) -> Replay:
    hub, ctx = hub_of(request), await request_context(request)
    view = ReplayView(hub.sessions, hub.bus.deps.clock)
    done = await run_in_threadpool(replay, view, hub.uow_factory(), hub.bus.deps, ctx, site, code)
    return answer(done)


def answer(done: steps.Replay) -> Replay:
    """The replay as the API shows it."""
    return Replay.model_validate(
        {
            "record_type": done.record_type,
            "site": done.site,
            "code": done.code,
            "outcome": done.outcome.value,
            "differing_steps": [f"{s.subject}: {s.name}" for s in done.differing],
            "steps": [
                {
                    "subject": s.subject,
                    "step": s.name,
                    "outcome": "identical" if s.identical else "differs",
                    "stored": s.stored,
                    "recomputed": s.recomputed,
                    "differences": [dataclasses.asdict(d) for d in s.differences],
                }
                for s in done.steps
            ],
        }
    )
