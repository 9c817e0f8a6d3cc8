"""Every action a person signs, and the meaning(s) its signature may carry (21 CFR 11.50(a)(3)).

The one table the handlers check and the API's request schemas are built from: a signature's
meaning is what the signer declares, so an approval signed "rejected" or a batch release signed
"authored" is refused, not recorded next to a decision it contradicts.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

from labgate.compliance.signatures import Meaning
from labgate.domain.errors import InvalidInput

__all__ = ["MEANINGS", "SignedAction", "require_meaning"]


class SignedAction(StrEnum):
    """A decision taken with an e-signature."""

    APPROVE_RESULT = "result.approve"
    INVALIDATE_RESULT = "result.invalidate"
    RELEASE_BATCH = "batch.release"
    REJECT_BATCH = "batch.reject"
    APPROVE_SPEC = "specification.approve"
    INVESTIGATE_PHASE1 = "deviation.phase1"
    INVESTIGATE_PHASE2 = "deviation.phase2"
    CLOSE_DEVIATION = "deviation.close"
    ACKNOWLEDGE_OOT = "oot_alert.acknowledge"
    APPROVE_STUDY = "stability_study.approve"
    CANCEL_STUDY = "stability_study.cancel"
    CHANGE_EM_LIMITS = "em_limits.change"
    RELEASE_LOT = "lot.release"
    REJECT_LOT = "lot.reject"
    RESOLVE_QUARANTINE = "quarantine.resolve"
    APPROVE_ICD = "icd.approve"
    APPROVE_CHANGE = "change_request.approve"
    SIGN_OFF_TRAIL_REVIEW = "audit_review.sign_off"


MEANINGS: MappingProxyType[SignedAction, tuple[Meaning, ...]] = MappingProxyType(
    {
        SignedAction.APPROVE_RESULT: (Meaning.APPROVED,),
        SignedAction.INVALIDATE_RESULT: (Meaning.INVALIDATED,),
        SignedAction.RELEASE_BATCH: (Meaning.RELEASED,),
        SignedAction.REJECT_BATCH: (Meaning.REJECTED,),
        SignedAction.APPROVE_SPEC: (Meaning.APPROVED,),
        SignedAction.INVESTIGATE_PHASE1: (Meaning.REVIEWED,),
        SignedAction.INVESTIGATE_PHASE2: (Meaning.REVIEWED,),
        SignedAction.CLOSE_DEVIATION: (Meaning.APPROVED,),
        SignedAction.ACKNOWLEDGE_OOT: (Meaning.REVIEWED,),
        SignedAction.APPROVE_STUDY: (Meaning.APPROVED,),
        SignedAction.CANCEL_STUDY: (Meaning.APPROVED,),
        SignedAction.CHANGE_EM_LIMITS: (Meaning.APPROVED,),
        SignedAction.RELEASE_LOT: (Meaning.RELEASED,),
        SignedAction.REJECT_LOT: (Meaning.REJECTED,),
        SignedAction.RESOLVE_QUARANTINE: (Meaning.APPROVED,),
        SignedAction.APPROVE_ICD: (Meaning.APPROVED,),
        SignedAction.APPROVE_CHANGE: (Meaning.APPROVED,),
        SignedAction.SIGN_OFF_TRAIL_REVIEW: (Meaning.REVIEWED,),
    }
)


def require_meaning(action: SignedAction, given: str) -> Meaning:
    """The meaning `given` if `action` accepts it; otherwise a refusal naming what it accepts."""
    accepted = MEANINGS[action]
    if given in accepted:
        return Meaning(given)
    names = " or ".join(repr(m.value) for m in accepted)
    raise InvalidInput(
        f"A signature for {action.value} carries the meaning {names}, not {given!r}.",
        reason="signature.wrong_meaning",
        field="signature.meaning",
    )
