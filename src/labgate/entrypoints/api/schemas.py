"""Request bodies: required fields and types are checked here, where data enters."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictStr

from labgate.domain.commands import SignatureInput
from labgate.domain.errors import InvalidInput
from labgate.service.messages import KEY_LENGTH, SampleRequestV1, code


class Body(BaseModel):
    """Unknown fields are refused rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


def short_path_keys(request: Request) -> None:
    """Keys in the path are bounded like keys in bodies: no record has a longer one, and a longer
    one would not fit the refusal's own audit entry."""
    for name, value in request.path_params.items():
        if len(str(value)) > KEY_LENGTH:
            raise InvalidInput(
                f"The {name} in the path is longer than the {KEY_LENGTH} characters a key has.",
                reason="input.string_too_long",
                field=name,
            )


class SignatureIn(Body):
    """Both components, re-entered at signing, and what the signature means."""

    username: StrictStr = Field(min_length=1)
    password: StrictStr = Field(min_length=1, repr=False)
    meaning: StrictStr

    def to_input(self) -> SignatureInput:
        """As the command carries it."""
        return SignatureInput(self.username, self.password, self.meaning)


class SampleRequestIn(SampleRequestV1):
    """A sample request from the MES, by business keys: the same rules as the signed message."""


class NativeSampleIn(Body):
    """A sample registered directly in labgate's own lab module."""

    product: StrictStr = code()
    sampled_at: AwareDatetime
    batch: StrictStr | None = code(None)
    lot: StrictStr | None = code(None)
    equipment: StrictStr | None = code(None)
    sampling_point: StrictStr | None = code(None)
    container: StrictStr | None = Field(None, max_length=64)


class RegistrationIn(Body):
    """The lab's acknowledgement of a sample."""

    lims_sample_id: StrictStr | None = Field(None, max_length=64)


class ReasonIn(Body):
    """A change that needs a reason."""

    reason: StrictStr = Field(min_length=1, max_length=2000)


class ResultIn(Body):
    """A result as the lab reports it; the value is text, kept exactly as sent."""

    sample: StrictStr = code()
    test_code: StrictStr = code()
    value: StrictStr = Field(min_length=1, max_length=200)
    unit: StrictStr | None = Field(None, max_length=64)
    method_version: StrictStr = code()
    analyst: StrictStr = code()
    retest_of: StrictStr | None = code(None)


class ReviewedResultIn(ResultIn):
    """A result already reviewed and approved in an external LIMS."""

    reviewer: StrictStr = code()
    approved_at: AwareDatetime


class SignedIn(Body):
    """An action confirmed with an e-signature."""

    signature: SignatureIn


class InvalidationIn(Body):
    """Invalidation: a reason, and a signature when a person invalidates."""

    reason: StrictStr = Field(min_length=1, max_length=2000)
    signature: SignatureIn | None = None


class EffectiveIn(Body):
    """Put a specification version in force."""

    effective_from: AwareDatetime
    reason: StrictStr = Field(min_length=1, max_length=2000)


class MasterDataIn(Body):
    """A master-data document and the change-control reason for loading it."""

    reason: StrictStr = Field(min_length=1, max_length=2000)
    document: dict[str, Any]


class AccountIn(Body):
    """A new person or system account."""

    username: StrictStr = code()
    printed_name: StrictStr = Field(min_length=1, max_length=200)
    roles: list[StrictStr]
    kind: StrictStr = Field("person", pattern="^(person|system)$")
    password: StrictStr | None = Field(None, repr=False)


class PhaseOneIn(Body):
    """Phase I (laboratory investigation): its conclusion, why, and the investigator's signature."""

    conclusion: StrictStr = Field(
        max_length=32, description="assignable_cause | no_assignable_cause"
    )
    reason: StrictStr = Field(min_length=1, max_length=2000)
    signature: SignatureIn


class PhaseTwoIn(Body):
    """Phase II (full investigation): is the OOS confirmed, the rationale, and the signature."""

    conclusion: StrictStr = Field(max_length=32, description="confirmed | not_confirmed")
    rationale: StrictStr = Field(min_length=1, max_length=2000)
    signature: SignatureIn


class ClosureIn(Body):
    """QA's closure: the CAPA reference (required when the OOS was confirmed), a reason, and
    the signature 'approved'."""

    capa: StrictStr | None = code(None)
    reason: StrictStr = Field(min_length=1, max_length=2000)
    signature: SignatureIn
