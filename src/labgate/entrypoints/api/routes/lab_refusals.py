"""The reason codes the lab, disposition and deviation routes can refuse with, by status: each
read from the commands, domain rules and read models the routes reach (contract.refuses)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Any route that checks an e-signature (service/handlers/common.check_signature): the id is not
# the caller's or the password is wrong, the account is locked, the meaning is not the action's.
SIGNED: dict[int, tuple[str, ...]] = {
    401: ("signature.bad_credentials", "auth.locked"),
    422: ("signature.wrong_meaning",),
}
# Lists with a cursor (paging.decode_cursor).
PAGED: dict[int, tuple[str, ...]] = {422: ("page.cursor_invalid",)}
# A sample being made (service/handlers/samples.request_sample): its keys, the spec in force,
# the sampling point's place and plan.
SAMPLE_MADE: dict[int, tuple[str, ...]] = {
    404: (
        "product.unknown",
        "batch.unknown",
        "equipment.unknown",
        "lot.unknown",
        "sampling_point.unknown",
        "mapping.unknown",
        "test.unknown",
        "method_version.unknown",
    ),
    409: (
        "spec.none_in_force",
        "sampling_point.not_in_procedure",
        "sampling_plan.test_not_planned",
        "sampling_plan.none_for_point",
        "sampling_plan.no_release_set",
        "method_version.deprecated",
        "mapping.retired",
    ),
}
# Lifecycle moves a result's approval or invalidation makes (domain/lifecycle.py).
MOVES = ("result.invalid_transition", "test.invalid_transition", "sample.invalid_transition")
# A result being recorded (service/handlers/results._record_one, domain/samples.record_result).
RESULT_RECORDED: dict[int, tuple[str, ...]] = {
    403: ("result.analyst_is_not_caller",),
    404: ("test.unknown", "sample.unknown", "result.test_not_planned", "result.unknown"),
    409: (
        "sample.cancelled",
        "sample.not_registered",
        "result.already_reported",
        "result.bad_retest",
        *MOVES,
    ),
    422: (
        "result.method_version_mismatch",
        "result.value_kind_mismatch",
        "unit.not_expected",
        "unit.missing",
        "unit.unknown",
        "unit.unconvertible",
        "number.malformed",
        "number.out_of_range",
    ),
}
# A result already reviewed in the LIMS (results._approve_reviewed_elsewhere, approve_result).
REVIEWED_ELSEWHERE: dict[int, tuple[str, ...]] = {
    403: ("result.reviewer_is_analyst",),
    409: ("identity.unmapped",),
    422: ("result.review_incomplete",),
}
RESULT_APPROVED: dict[int, tuple[str, ...]] = {
    403: ("result.reviewer_is_analyst",),
    404: ("result.unknown", "sample.unknown"),
    409: ("identity.unmapped", *MOVES),
}
RESULT_INVALIDATED: dict[int, tuple[str, ...]] = {
    404: ("result.unknown", "sample.unknown"),
    409: MOVES,
    422: ("signature.required",),
}
BATCH_UNKNOWN: dict[int, tuple[str, ...]] = {404: ("batch.unknown",)}
DISPOSED = ("release.already_released", "release.already_rejected")
# domain/disposition.release_blockers: the first blocker's kind is the refusal's reason.
RELEASE_BLOCKED = (
    "release.no_samples",
    "release.unreviewed_result",
    "release.on_hold",
    "release.sample_pending",
    "release.sample_rejected",
    "release.result_missing",
)
DEVIATION_UNKNOWN: dict[int, tuple[str, ...]] = {404: ("deviation.unknown",)}
# A step of an investigation (domain/deviations.Deviation, service/handlers/deviations.py).
DEVIATION_STEP: dict[int, tuple[str, ...]] = {
    404: ("deviation.unknown",),
    409: ("deviation.invalid_transition",),
}


def merged(*parts: Mapping[int, Iterable[str]]) -> dict[int, tuple[str, ...]]:
    """The union of several routes' worth of reason codes, by status."""
    out: dict[int, set[str]] = {}
    for part in parts:
        for status, codes in part.items():
            out.setdefault(status, set()).update(codes)
    return {status: tuple(sorted(codes)) for status, codes in sorted(out.items())}
