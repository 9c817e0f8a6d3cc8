"""Which category of a periodic audit-trail review (Annex 11 §9) each audited action falls in.

One table, read in order: an exact action name, then its suffix (the actions named from a record
type at run time: `batch.held`, `em_point.configured`), then its prefix. A refusal is a failed
sign-in when its reason code says the credentials were wrong. An action no row names is
UNCATEGORISED: the review still lists it, and a test fails on it, so a new action is placed here
the day it is written."""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType


class Category(StrEnum):
    """A heading of the review, in the order the report shows them."""

    GXP_CHANGE = "gxp_change"
    REFUSAL = "refusal"
    QUARANTINE = "quarantine"
    MANUAL_INTERVENTION = "manual_intervention"
    PRIVILEGED = "privileged"
    FAILED_SIGN_IN = "failed_sign_in"
    ALARM = "alarm"
    ROUTINE = "routine"
    UNCATEGORISED = "uncategorised"


TITLES = MappingProxyType(
    {
        Category.GXP_CHANGE: "Changes to GxP records",
        Category.REFUSAL: "Refusals",
        Category.QUARANTINE: "Quarantine actions, reprocessing and dead letters",
        Category.MANUAL_INTERVENTION: "Manual interventions",
        Category.PRIVILEGED: "Privileged actions",
        Category.FAILED_SIGN_IN: "Failed sign-ins",
        Category.ALARM: "Alarms: the clock drifted or went unchecked, a restore test failed",
        Category.ROUTINE: "Routine entries",
        Category.UNCATEGORISED: "Uncategorised entries",
    }
)

G, R, Q = Category.GXP_CHANGE, Category.REFUSAL, Category.QUARANTINE
M, P, F, N = (Category.MANUAL_INTERVENTION, Category.PRIVILEGED, Category.FAILED_SIGN_IN,
              Category.ROUTINE)  # fmt: skip
A = Category.ALARM

EXACT = MappingProxyType(
    {
        "account.created": P, "account.roles_changed": P, "account.password_set": P,
        "account.api_key_issued": P, "account.deactivated": P, "account.reactivated": P,
        "account.unlocked": M, "account.locked": F,
        # A person choosing their own password, a lock running out, a session: no one intervened.
        "account.password_changed": N, "account.lock_ended": N,
        "auth.signed_in": N, "auth.signed_out": N,
        "identity.mapped": P, "identity.unmapped": P,
        "source_key.registered": M, "source_key.revoked": M,
        "outbox.retry": M, "outbox.dead_lettered": Q, "outbox.sealed": N,
        "inbox.duplicate": N, "inbox.held": N,
        "refused.sign_in": F, "refused.unauthenticated_summary": R,
        "signature.applied": G,
        "clock.drift": A, "clock.unreachable": A, "backup.restore_failed": A,
        "backup.taken": N, "backup.restore_verified": N,
        "dq.run": N,  # its breaches open deviations (GxP changes)
    }
)  # fmt: skip

SUFFIXES = MappingProxyType({".replayed": M, ".configured": G, ".held": G, ".hold_lifted": G})

PREFIXES = MappingProxyType(
    {
        "refused.": R, "quarantine.": Q, "clock.": N, "audit_review.": N,
        "sample.": G, "result.": G, "batch.": G, "lot.": G, "specification.": G,
        "masterdata.": G, "deviation.": G, "oot_alert.": G, "stability.": G,
        "stability_study.": G, "skip_lot_plan.": G, "room_occupancy.": G, "em_": G,
        # Change control and what it puts in force, and the ICD that states it.
        "change_request.": G, "status_map.": G, "method_version.": G, "icd.": G,
        "channel_allow_list.": G,
    }
)  # fmt: skip

# Reason codes of a refusal that mean the credentials were wrong or the account locked.
SIGN_IN_REASONS = frozenset({"auth.bad_credentials", "auth.locked", "auth.bad_api_key"})


def category_of(action: str, reason_code: str | None = None) -> Category:
    """The review category of an audited action (and, for a refusal, its reason code)."""
    if action.startswith("refused.") and reason_code in SIGN_IN_REASONS:
        return Category.FAILED_SIGN_IN
    if action in EXACT:
        return EXACT[action]
    for suffix, category in SUFFIXES.items():
        if action.endswith(suffix):
            return category
    for prefix, category in PREFIXES.items():
        if action.startswith(prefix):
            return category
    return Category.UNCATEGORISED
