"""The ICD's versions: a new draft whenever the configuration in force says something the newest
version does not, and QA's e-signed approval, which supersedes the version approved before."""

from __future__ import annotations

from labgate.compliance.access import Permission
from labgate.compliance.canonical import content_hash
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.commands import ApproveIcd, GenerateIcd
from labgate.domain.errors import Conflict
from labgate.domain.icd import IcdStatus, IcdVersion
from labgate.service.deps import Deps
from labgate.service.handlers.common import apply_signature, check_signature, must_get, record
from labgate.service.unit_of_work import UnitOfWork


def generate_icd(cmd: GenerateIcd, uow: UnitOfWork, deps: Deps) -> int:
    """The version that states `content`: the newest one if it already does, else a new draft
    (an older draft not approved is superseded by it). Returns its number."""
    sha = content_hash(dict(cmd.content))
    with uow:
        versions = uow.records.find(IcdVersion, site=cmd.site)
        newest = max(versions, key=lambda v: v.version, default=None)
        if newest is not None and newest.sha256 == sha:
            return newest.version
        now = deps.clock.now()
        for draft in (v for v in versions if v.status is IcdStatus.DRAFT):
            draft.supersede()
        made = IcdVersion(cmd.site, (newest.version if newest else 0) + 1, sha, now,
                          cmd.ctx.actor, dict(cmd.content))  # fmt: skip
        uow.records.add(made)
        record(uow, cmd.ctx, now, "icd.generated", ("icd", f"v{made.version}", cmd.site),
               after={"version": made.version, "sha256": sha},
               reason="generated from the configuration in force")  # fmt: skip
        uow.commit()
        return made.version


def approve_icd(cmd: ApproveIcd, uow: UnitOfWork, deps: Deps) -> int:
    """QA signs the version (never whoever had it generated); the one approved before is
    superseded: one version is in force."""
    with uow:
        now = deps.clock.now()
        signer, meaning = check_signature(
            uow, cmd.ctx, cmd.signature, Permission.APPROVE_SPEC, SignedAction.APPROVE_ICD
        )
        version = must_get(uow, IcdVersion, "icd", "version", site=cmd.site, version=cmd.version)
        if cmd.seen_sha256 is not None and cmd.seen_sha256 != version.sha256:
            raise Conflict(
                f"ICD version {version.version} is {version.sha256}, not the {cmd.seen_sha256} "
                "you were shown; read it again before signing.",
                reason="icd.changed_since_shown",
                field="seen_sha256",
            )
        version.approve(signer.username, now)
        for older in uow.records.find(IcdVersion, site=cmd.site, status=IcdStatus.APPROVED):
            if older.version != version.version:
                older.supersede()
        subject = ("icd", f"v{version.version}", cmd.site)
        record(uow, cmd.ctx, now, "icd.approved", subject, before={"status": "draft"},
               after={"status": "approved", "sha256": version.sha256},
               reason="e-signature: approved")  # fmt: skip
        apply_signature(uow, cmd.ctx, now, signer, meaning, subject,
                        {"version": version.version, "sha256": version.sha256})  # fmt: skip
        uow.commit()
        return version.version
