"""IPC gates: an operation completes only when its sampling points allow it, point by point."""

from __future__ import annotations

import random

import pytest

from labgate.domain.batches import Level, ProceduralElement, Procedure, SamplingPoint
from labgate.domain.errors import InvalidInput, NotFound
from labgate.domain.gates import (
    GateMode,
    GateSample,
    PointTally,
    gate_mode,
    operation_gate,
    waiting_points,
)
from labgate.domain.status_map import MesStatus

A, P, R = MesStatus.ACCEPTED, MesStatus.PENDING, MesStatus.REJECTED
PROCEDURE = Procedure(
    "S", "PR", "P1",
    [ProceduralElement("PR", Level.PROCEDURE), ProceduralElement("PR/GRAN", Level.UNIT_PROCEDURE),
     ProceduralElement("PR/GRAN/WET", Level.OPERATION),
     ProceduralElement("PR/GRAN/WET/SAMPLE", Level.PHASE),
     ProceduralElement("PR/GRAN/WETTER", Level.OPERATION),
     ProceduralElement("PR/GRAN/WETTER/SAMPLE", Level.PHASE)],
)  # fmt: skip
POINTS = [
    SamplingPoint("S", "SP-LOD", "PR", "PR/GRAN/WET/SAMPLE"),
    SamplingPoint("S", "SP-PSD", "PR", "PR/GRAN/WET/SAMPLE"),
    # A sibling whose path shares the prefix "PR/GRAN/WET": it is not inside WET.
    SamplingPoint("S", "SP-OTHER", "PR", "PR/GRAN/WETTER/SAMPLE"),
]


def gate(modes: dict[str, GateMode], *samples: GateSample) -> tuple[bool, list[str]]:
    decision = operation_gate(PROCEDURE, "PR/GRAN/WET", POINTS, modes, samples)
    return decision.may_complete, [f"{p.sampling_point}: {p.why}" for p in decision.points]


@pytest.mark.requirement("URS-TX-007")
def test_a_blocking_point_waits_for_a_sample_then_for_its_review() -> None:
    lod = GateSample("S-1", "SP-LOD", P)
    psd = GateSample("S-2", "SP-PSD", A)
    assert gate({}, psd) == (False, ["SP-LOD: no sample has been drawn here yet",
                                      "SP-PSD: every sample is Accepted"])  # fmt: skip
    assert gate({}, lod, psd)[1][0] == "SP-LOD: waiting for reviewed results of S-1"
    accepted = GateSample("S-1", "SP-LOD", A)
    assert gate({}, accepted, psd) == (True, ["SP-LOD: every sample is Accepted",
                                              "SP-PSD: every sample is Accepted"])  # fmt: skip


def test_points_of_other_operations_do_not_count() -> None:
    decision = operation_gate(PROCEDURE, "PR/GRAN/WET", POINTS, {}, [])
    assert [p.sampling_point for p in decision.points] == ["SP-LOD", "SP-PSD"]


def test_a_rejected_sample_blocks_a_blocking_point_even_with_a_deviation() -> None:
    rejected = GateSample("S-1", "SP-LOD", R, deviation="DEV-000001")
    ok = GateSample("S-2", "SP-PSD", A)
    assert gate({}, rejected, ok) == (False, ["SP-LOD: S-1 Rejected",
                                              "SP-PSD: every sample is Accepted"])  # fmt: skip


def test_allow_with_deviation_needs_the_deviation() -> None:
    modes = {"SP-LOD": GateMode.ALLOW_WITH_DEVIATION, "SP-PSD": GateMode.INFORMATIVE}
    bare = GateSample("S-1", "SP-LOD", R)
    assert gate(modes, bare) == (False, [
        "SP-LOD: S-1 Rejected without a deviation",
        "SP-PSD: informative only: its samples never hold the operation",
    ])  # fmt: skip
    covered = GateSample("S-1", "SP-LOD", R, deviation="DEV-000001")
    assert gate(modes, covered)[0] is True
    assert gate(modes, covered)[1][0] == "SP-LOD: allowed with deviation: S-1 under DEV-000001"
    pending = GateSample("S-3", "SP-LOD", P)
    assert gate(modes, covered, pending)[0] is False  # a retest still under review holds it


def test_informative_points_never_hold_even_when_rejected() -> None:
    modes = {"SP-LOD": GateMode.INFORMATIVE, "SP-PSD": GateMode.INFORMATIVE}
    assert gate(modes, GateSample("S-1", "SP-LOD", R))[0] is True


def test_an_unknown_operation_or_gate_mode_is_refused_by_name() -> None:
    with pytest.raises(NotFound) as missing:
        operation_gate(PROCEDURE, "PR/GRAN/WET/SAMPLE", POINTS, {}, [])  # a phase, not an op
    assert missing.value.reason == "procedure.unknown_operation"
    with pytest.raises(InvalidInput) as bad:
        gate_mode("stop")
    assert bad.value.reason == "gate.unknown" and "allow_with_deviation" in bad.value.message


@pytest.mark.parametrize("seed", range(200))
def test_counting_the_samples_waits_for_the_same_points_as_reading_them(seed: int) -> None:
    # The gate push decides from per-point counts and loads the samples only to tell the MES:
    # both must always agree on what the operation waits for.
    rng = random.Random(seed)
    modes = {p.code: rng.choice(list(GateMode)) for p in POINTS if rng.random() < 0.8}
    points, statuses = [p.code for p in POINTS], [A, P, R]
    samples = [
        GateSample(f"S-{n}", rng.choice(points), rng.choice(statuses), rng.choice([None, "DEV-1"]))
        for n in range(rng.randrange(6))
    ]
    tallies = {p.code: PointTally.of([s for s in samples if s.sampling_point == p.code])
               for p in POINTS}  # fmt: skip
    for point in [code for code, tally in tallies.items() if not tally.drawn]:
        if rng.random() < 0.5:
            del tallies[point]  # a point nothing was drawn at may be left out
    decision = operation_gate(PROCEDURE, "PR/GRAN/WET", POINTS, modes, samples)
    assert waiting_points("PR/GRAN/WET", POINTS, modes, tallies) == decision.waiting_for
    assert decision.may_complete is (not decision.waiting_for)
