"""Out-of-trend alerts, assessed by a person (the checks that raise and withdraw them are
reactions: `service/reactions/oot.py`)."""

from __future__ import annotations

from labgate.compliance.access import Permission
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.stability_commands import AcknowledgeOotAlert
from labgate.domain.trending import OotAlert, alert_content
from labgate.service.deps import Deps
from labgate.service.handlers.common import apply_signature, check_signature, must_get, record
from labgate.service.unit_of_work import UnitOfWork


def acknowledge_alert(cmd: AcknowledgeOotAlert, uow: UnitOfWork, deps: Deps) -> str:
    """A reviewer or QA signs their assessment of the alert; the result stays as it is."""
    with uow:
        now = deps.clock.now()
        signer, meaning = check_signature(
            uow, cmd.ctx, cmd.signature, Permission.ACKNOWLEDGE_OOT, SignedAction.ACKNOWLEDGE_OOT
        )
        alert = must_get(uow, OotAlert, "oot_alert", "alert", site=cmd.site, code=cmd.alert)
        alert.acknowledge(signer.username, now, cmd.assessment)
        subject = ("oot_alert", alert.code, cmd.site)
        record(
            uow,
            cmd.ctx,
            now,
            "oot_alert.acknowledged",
            subject,
            before={"status": "open"},
            after={
                "status": alert.status,
                "acknowledged_by": alert.acknowledged_by,
                "assessment": alert.assessment,
            },
            reason=cmd.assessment,
        )
        apply_signature(uow, cmd.ctx, now, signer, meaning, subject, alert_content(alert))
        uow.commit()
        return alert.code
