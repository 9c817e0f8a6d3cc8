"""The answers about the Interface Control Document."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from labgate.entrypoints.api.wire import Answer, Hash, UtcTime

IcdStatusName = Literal["draft", "approved", "superseded"]


class IcdVersionSummary(Answer):
    """One version of a site's ICD, without its content."""

    version: int = Field(ge=1, le=2**31 - 1)
    status: IcdStatusName
    sha256: Hash = Field(description="SHA-256 of the content's RFC 8785 canonical JSON.")
    generated_at: UtcTime
    generated_by: str
    approved_by: str | None
    approved_at: UtcTime | None


class IcdVersions(Answer):
    """Every version, newest first, and the one in force (approved last; null: none yet)."""

    in_force: int | None = Field(ge=1, le=2**31 - 1)
    versions: list[IcdVersionSummary]


class IcdGenerated(Answer):
    """The version that states the configuration in force: new (a draft) or the newest one,
    which already did."""

    version: int = Field(ge=1, le=2**31 - 1)
    sha256: Hash
    status: IcdStatusName
    new: bool


class IcdChanges(Answer):
    """What changed from one version to another, in words (none: the same content)."""

    from_version: int = Field(ge=1, le=2**31 - 1)
    to_version: int = Field(ge=1, le=2**31 - 1)
    changes: list[str]
