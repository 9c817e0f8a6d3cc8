"""Replays as the edges ask for them: read through the store's read-only view, replayed, and
audited (one entry per replay: who replayed which record, and the outcome)."""

from __future__ import annotations

from collections.abc import Callable

from labgate.domain.commands import Context
from labgate.service.deps import Deps
from labgate.service.handlers.common import record
from labgate.service.replay.batch import replay_batch
from labgate.service.replay.records import StoredDecisions
from labgate.service.replay.result import replay_result
from labgate.service.replay.steps import Replay
from labgate.service.unit_of_work import UnitOfWork
from labgate.service.units import dictionary_of

# replay_stored_result and replay_stored_batch, as the edges call either.
Replayer = Callable[[StoredDecisions, UnitOfWork, Deps, Context, str, str], Replay]


def replay_stored_result(
    stored: StoredDecisions, uow: UnitOfWork, deps: Deps, ctx: Context, site: str, code: str
) -> Replay:
    """Replay result `code` of `site`; NotFound (`result.unknown`) for an unknown id."""
    found, rules = stored.result(site, code), stored.rules()
    units = dictionary_of(rules.units, deps)
    steps = replay_result(found.sample, code, found.versions, units, rules).steps
    return _audited(Replay("result", site, code, steps), uow, deps, ctx)


def replay_stored_batch(
    stored: StoredDecisions, uow: UnitOfWork, deps: Deps, ctx: Context, site: str, code: str
) -> Replay:
    """Replay batch `code` of `site` whole; NotFound (`batch.unknown`) for an unknown id."""
    found, rules = stored.batch(site, code), stored.rules()
    units = dictionary_of(rules.units, deps)
    steps = replay_batch(found, units, rules)
    return _audited(Replay("batch", site, code, steps), uow, deps, ctx)


def _audited(replay: Replay, uow: UnitOfWork, deps: Deps, ctx: Context) -> Replay:
    # A replay changes no record, but who looked for tampering, at what, and what they found
    # is evidence too: a differing replay must not pass unrecorded.
    differing = [f"{s.subject}: {s.name}" for s in replay.differing]
    with uow:
        record(
            uow,
            ctx,
            deps.clock.now(),
            f"{replay.record_type}.replayed",
            (replay.record_type, replay.code, replay.site),
            after={"outcome": replay.outcome.value, "differing_steps": differing},
            reason="recomputed from the stored record and the versions it was bound to",
        )
        uow.commit()
    return replay
