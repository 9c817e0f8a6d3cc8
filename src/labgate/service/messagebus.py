"""The bus: one handler per command, refusals audited; the events a command raises are handled
in its transaction, by the routing table of `service/reactions/routing.py`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from labgate.domain import (
    account_commands,
    change_commands,
    commands,
    deviation_commands,
    dq_commands,
    interface_commands,
)
from labgate.domain import em_commands as em
from labgate.domain import raw_materials as raw
from labgate.domain import review_commands as review
from labgate.domain import stability_commands as stab
from labgate.domain.errors import LabgateError
from labgate.domain.events import Event
from labgate.service.deps import Deps
from labgate.service.handlers import (
    account_admin,
    accounts,
    audit_reviews,
    batches,
    bulk_approvals,
    change_requests,
    data_quality,
    deviations,
    em_config,
    em_monitoring,
    icd,
    identities,
    keys,
    masterdata,
    oot_alerts,
    raw_materials,
    results,
    samples,
    skip_lot_plans,
    stability,
    supplier_coa,
)
from labgate.service.inbox_records import Received
from labgate.service.reactions.routing import EVENT_HANDLERS, Reaction, Reactor
from labgate.service.refusals import record_refusal
from labgate.service.unit_of_work import UnitOfWork

Handler = Callable[[Any, UnitOfWork, Deps], Any]

HANDLERS: dict[type[commands.Command], Handler] = {
    commands.ImportMasterData: masterdata.import_masterdata,
    commands.PreviewMasterDataImport: masterdata.preview_masterdata_import,
    commands.ApproveSpecVersion: masterdata.approve_spec_version,
    commands.GenerateIcd: icd.generate_icd,
    commands.ApproveIcd: icd.approve_icd,
    commands.MakeSpecVersionEffective: masterdata.make_spec_effective,
    commands.RequestSample: samples.request_sample,
    change_commands.RaiseChangeRequest: change_requests.raise_change_request,
    change_commands.AssessChangeRequest: change_requests.assess_change_request,
    change_commands.ApproveChangeRequest: change_requests.approve_change_request,
    change_commands.RejectChangeRequest: change_requests.reject_change_request,
    change_commands.WithdrawChangeRequest: change_requests.withdraw_change_request,
    change_commands.ApplyDueChanges: change_requests.apply_due_changes,
    commands.RegisterSample: samples.register_sample,
    commands.CancelSample: samples.cancel_sample,
    commands.RecordResult: results.record_result,
    commands.RecordResults: results.record_results,
    commands.ApproveResult: results.approve_result,
    commands.ApproveResults: bulk_approvals.approve_results,
    commands.InvalidateResult: results.invalidate_result,
    commands.ReleaseBatch: batches.release_batch,
    commands.RejectBatch: batches.reject_batch,
    commands.CreateAccount: accounts.create_account,
    commands.SignIn: accounts.sign_in,
    commands.ChangeAccountState: accounts.change_account_state,
    account_commands.SetRoles: account_admin.set_roles,
    account_commands.SetPassword: account_admin.set_password,
    account_commands.IssueApiKey: account_admin.issue_api_key,
    account_commands.ChangePassword: account_admin.change_password,
    account_commands.SignOut: accounts.sign_out,
    interface_commands.RegisterSourceKey: keys.register_source_key,
    interface_commands.RevokeSourceKey: keys.revoke_source_key,
    interface_commands.MapIdentity: identities.map_identity,
    interface_commands.UnmapIdentity: identities.unmap_identity,
    deviation_commands.ConcludePhaseOne: deviations.conclude_phase_one,
    deviation_commands.ConcludePhaseTwo: deviations.conclude_phase_two,
    deviation_commands.CloseDeviation: deviations.close_deviation,
    dq_commands.RunDataQuality: data_quality.run_data_quality,
    raw.ConfigureSkipLotPlan: skip_lot_plans.configure_plan,
    raw.ReceiveLot: raw_materials.receive_lot,
    raw.ImportSupplierCoa: supplier_coa.import_supplier_coa,
    raw.DecideLot: raw_materials.decide_lot,
    stab.CreateStudy: stability.create_study,
    stab.ApproveStudy: stability.approve_study,
    stab.CloseStudy: stability.close_study,
    stab.PullStability: stability.pull,
    stab.PullDue: stability.pull_due,
    stab.AcknowledgeOotAlert: oot_alerts.acknowledge_alert,
    em.ConfigureEmLocation: em_config.configure_location,
    em.ConfigureEmPoint: em_config.configure_point,
    em.ConfigureEmRoute: em_config.configure_route,
    em.ConfigureEmSchedule: em_config.configure_schedule,
    em.SetEmLimit: em_config.set_limit,
    em.StartEmRound: em_monitoring.start_round,
    em.StartDueRounds: em_monitoring.start_due_rounds,
    em.RecordEmCount: em_monitoring.record_count,
    em.ReportOccupancy: em_monitoring.report_occupancy,
    review.CreateAuditReview: audit_reviews.create_audit_review,
    review.MarkSpotCheck: audit_reviews.mark_spot_check,
    review.SignOffAuditReview: audit_reviews.sign_off_audit_review,
}


class MessageBus:
    """Runs commands through their handlers; each command is one transaction."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        deps: Deps,
        event_handlers: Mapping[type[Event], list[Reaction]] = EVENT_HANDLERS,
    ) -> None:
        self.uow_factory = uow_factory
        self.deps = deps
        self.event_handlers = event_handlers

    def handle(
        self,
        command: commands.Command,
        audit_refusal: bool = True,
        received: Sequence[Received] = (),
        uow: UnitOfWork | None = None,
    ) -> Any:
        """Run `command`; on refusal, audit it in its own transaction and re-raise. A caller that
        retries the command's parts one by one (a batch of messages) audits their refusals
        instead (`audit_refusal=False`). `received`: the envelopes the inbox took the command
        (or its parts) in, recorded in its transaction; `uow`: the transaction the inbox opened
        to admit them, which the command's handler joins (else one of its own)."""
        uow = uow if uow is not None else self.uow_factory()
        uow.correlation_id = command.ctx.correlation_id
        uow.arrived = {message.ref: message for message in received}
        uow.received = uow.received_for(command.ctx)
        uow.clock_now = self.deps.clock.now
        uow.reactions = partial(Reactor, self.deps, command.ctx, self.event_handlers)
        try:
            outcome = HANDLERS[type(command)](command, uow, self.deps)
        except LabgateError as error:
            if audit_refusal:
                self.record_refusal(command, error)
            raise
        return outcome

    def record_refusal(self, command: commands.Command, error: LabgateError) -> None:
        """Audit a refusal of `command`, in a transaction of its own."""
        record_refusal(
            self.uow_factory(), self.deps, command.ctx, error, _action(command), _subject(command)
        )


def _action(command: commands.Command) -> str:
    name = type(command).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _subject(command: commands.Command) -> tuple[str, str, str | None]:
    if isinstance(command, commands.RecordResults) and len(command.results) == 1:
        command = command.results[0]  # a pack of one result: refused about it, as if sent alone
    site = getattr(command, "site", None)
    if isinstance(command, commands.RecordResults):
        # A pack's results, refused whole: the refusal belongs to their site (the site's trail
        # would miss it otherwise).
        site = _one_site({one.site for one in command.results})
    for attr, kind in (
        ("result", "result"),
        ("sample", "sample"),
        ("batch", "batch"),
        ("mes_request_id", "sample_request"),
        ("specification", "specification"),
        ("username", "account"),
        ("kid", "source_key"),
        ("deviation", "deviation"),
        ("lot", "lot"),
        ("study", "stability_study"),
        ("alert", "oot_alert"),
        ("review", "audit_review"),
    ):
        value = getattr(command, attr, None)
        if isinstance(value, str):
            return kind, value, site
    return "request", "-", site


def _one_site(sites: set[str]) -> str | None:
    return next(iter(sites)) if len(sites) == 1 else None
