"""Request bodies: required fields and types are checked here, where data enters."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, cast

from fastapi import Path, Query, Request
from fastapi.dependencies.models import Dependant
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StrictStr,
    create_model,
)
from pydantic_core import core_schema

from labgate.compliance.signed_actions import MEANINGS, SignedAction
from labgate.domain.commands import SignatureInput
from labgate.domain.deviations import PhaseOneConclusion, PhaseTwoConclusion
from labgate.domain.errors import InvalidInput
from labgate.service.messages import (
    KEY_LENGTH,
    ResultFields,
    SampleFields,
    SampleRequestV1,
    UtcDatetime,
    code,
    key_text,
    reason_text,
)

# Every integer the API takes is bounded by the column that stores or compares it (an Integer:
# PostgreSQL enforces its range, and SQLite overflows past 64 bits): a larger one is refused
# with 422 by field and rule, never a 500. The bounds show in the OpenAPI.
INT32_MAX = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=INT32_MAX, description="A row's number.")]
VersionNumber = Annotated[int, Path(ge=1, le=INT32_MAX, description="A version's number.")]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX, description="Rows to skip.")]
AfterId = Annotated[int, Query(ge=0, le=INT32_MAX, description="Rows after this number.")]


class Body(BaseModel):
    """Unknown fields are refused rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


async def short_path_keys(request: Request) -> None:
    """Keys in the path are bounded like keys in bodies: no record has a longer one, and a longer
    one would not fit the refusal's own audit entry. (This and the checks below do no I/O:
    async, so they run on the event loop, not each on a worker thread of its own.)"""
    for name, value in request.path_params.items():
        if len(str(value)) > KEY_LENGTH:
            raise InvalidInput(
                f"The {name} in the path is longer than the {KEY_LENGTH} characters a key has.",
                reason="input.string_too_long",
                field=name,
            )


async def no_nul_in_keys(request: Request) -> None:
    """Keys in the path and the query's filters hold no NUL character: no record's text can
    (PostgreSQL refuses it in any text, even to compare), so it is refused by field and rule
    here, as bodies are (body_checks)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    declared = _query_names(dependant) if isinstance(dependant, Dependant) else set()
    queried = [(name, v) for name in declared for v in request.query_params.getlist(name)]
    for name, value in [*request.path_params.items(), *queried]:
        if "\x00" in str(value):
            raise InvalidInput(
                f"The {name} holds a NUL character (U+0000), which no record's text can hold.",
                reason="input.nul_character",
                field=name,
            )


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for child in dependant.dependencies:
        names |= _query_names(child)
    return names


class SignatureIn(Body):
    """Both components, re-entered at signing, and what the signature means."""

    username: StrictStr = Field(min_length=1)
    password: StrictStr = Field(min_length=1, repr=False)
    meaning: StrictStr

    def to_input(self) -> SignatureInput:
        """As the command carries it."""
        return SignatureInput(self.username, self.password, self.meaning)


@functools.cache
def signature_model(action: SignedAction) -> type[SignatureIn]:
    """The signature body of one action, its meaning an enum of what the action accepts."""
    accepted = tuple(m.value for m in MEANINGS[action])
    name = "".join(part.title() for part in re.split(r"[._]", action.value)) + "Signature"
    described = Field(
        description=f"What the signer declares: {' or '.join(accepted)}.",
        json_schema_extra={"enum": list(accepted)},
    )
    return create_model(
        name,
        __base__=SignatureIn,
        __doc__=f"An e-signature for {action.value}: user id, password and meaning.",
        meaning=(cast(Any, Literal)[accepted], described),
    )


@dataclass(frozen=True)
class SignedAs:
    """`Annotated[SignatureIn, SignedAs(action)]`: the body field validates (and documents)
    the action's own signature model, so the OpenAPI lists the meanings it accepts."""

    action: SignedAction

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """The schema of the action's signature model instead of the plain one."""
        return handler.generate_schema(signature_model(self.action))


class SampleRequestIn(SampleRequestV1):
    """A sample request from the MES, by business keys: the same rules as the signed message."""


class NativeSampleIn(SampleFields, Body):
    """A sample registered directly in labgate's own lab module."""


class RegistrationIn(Body):
    """The lab's acknowledgement of a sample."""

    lims_sample_id: StrictStr | None = key_text(None)


class ReasonIn(Body):
    """A change that needs a reason."""

    reason: StrictStr = reason_text()


class ResultIn(ResultFields, Body):
    """A result as the lab reports it; the value is text, kept exactly as sent."""


class ReviewedResultIn(ResultIn):
    """A result already reviewed and approved in an external LIMS."""

    reviewer: StrictStr = code()
    approved_at: UtcDatetime


class ApprovalIn(Body):
    """A result's approval: the reviewer's e-signature, meaning 'approved'."""

    signature: Annotated[SignatureIn, SignedAs(SignedAction.APPROVE_RESULT)]


class ReleaseIn(Body):
    """A batch release: QA's e-signature, meaning 'released'."""

    signature: Annotated[SignatureIn, SignedAs(SignedAction.RELEASE_BATCH)]


class SpecApprovalIn(Body):
    """A specification version's approval: QA's e-signature, meaning 'approved'."""

    signature: Annotated[SignatureIn, SignedAs(SignedAction.APPROVE_SPEC)]


class StudyApprovalIn(Body):
    """A stability protocol's approval: QA's e-signature, meaning 'approved'."""

    signature: Annotated[SignatureIn, SignedAs(SignedAction.APPROVE_STUDY)]


class InvalidationIn(Body):
    """Invalidation: a reason, and a signature when a person invalidates."""

    reason: StrictStr = reason_text()
    signature: Annotated[SignatureIn, SignedAs(SignedAction.INVALIDATE_RESULT)] | None = None


class EffectiveIn(Body):
    """Put a specification version in force."""

    effective_from: AwareDatetime
    reason: StrictStr = reason_text()


class MasterDataIn(Body):
    """A master-data document and the change-control reason for loading it."""

    reason: StrictStr = reason_text()
    document: dict[str, Any]


class AccountIn(Body):
    """A new person or system account."""

    username: StrictStr = code()
    printed_name: StrictStr = Field(min_length=1, max_length=200)
    roles: list[StrictStr]
    kind: StrictStr = Field("person", pattern="^(person|system)$")
    password: StrictStr | None = Field(None, repr=False)


def conclusion_of(kind: type[StrEnum]) -> Any:
    """A phase's conclusion: documented as the domain's enum, checked by the domain, which
    refuses another value with its own reason (`deviation.bad_phase1_conclusion`, ...)."""
    accepted: list[Any] = [member.value for member in kind]
    return Field(
        max_length=32,
        description=f"One of: {', '.join(accepted)}.",
        json_schema_extra={"enum": accepted},
    )


class PhaseOneIn(Body):
    """Phase I (laboratory investigation): its conclusion, why, and the investigator's signature."""

    conclusion: StrictStr = conclusion_of(PhaseOneConclusion)
    reason: StrictStr = reason_text()
    signature: Annotated[SignatureIn, SignedAs(SignedAction.INVESTIGATE_PHASE1)]


class PhaseTwoIn(Body):
    """Phase II (full investigation): is the OOS confirmed, the rationale, and the signature."""

    conclusion: StrictStr = conclusion_of(PhaseTwoConclusion)
    rationale: StrictStr = reason_text()
    signature: Annotated[SignatureIn, SignedAs(SignedAction.INVESTIGATE_PHASE2)]


class ClosureIn(Body):
    """QA's closure: the CAPA reference (required when the OOS was confirmed), a reason, and
    the signature 'approved'."""

    capa: StrictStr | None = code(None)
    reason: StrictStr = reason_text()
    signature: Annotated[SignatureIn, SignedAs(SignedAction.CLOSE_DEVIATION)]


class ChangeRequestIn(Body):
    """A draft change request: what changes (`kind`, `proposal`), why, and from when (none:
    from its approval). Its author is the signed-in caller."""

    kind: Literal[
        "status_map", "spec_retirement", "method_deprecation", "channel_allow_list", "masterdata"
    ]
    title: StrictStr = Field(min_length=1, max_length=200)
    reason: StrictStr = reason_text()
    proposal: dict[str, Any] = Field(
        description="status_map: {rules: [{lims_status, outcome, mes_status}]}; "
        "spec_retirement: {specification, version}; method_deprecation: {method, version}; "
        "channel_allow_list: {channels: {<rest|amqp|mqtt|folder|sftp>: [<schema.vN>, ...]}} "
        "(a channel not named carries every inbound message type); "
        "masterdata: {document: {units, methods, tests, mappings, aliases}} (the import's "
        "format, these sections only)."
    )
    effective_from: AwareDatetime | None = None


class ChangeApprovalIn(Body):
    """QA's approval: an e-signature over the request and the assessment hash it was shown."""

    signature: Annotated[SignatureIn, SignedAs(SignedAction.APPROVE_CHANGE)]
    seen_assessment: StrictStr | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class ChangeCloseIn(Body):
    """A rejection or withdrawal, with its reason."""

    reason: StrictStr = reason_text()
