"""People, system accounts, roles and the permission matrix (21 CFR 11.10(d), (g); Annex 11 §12)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from labgate.compliance.clock import as_utc
from labgate.domain.errors import Forbidden, SegregationOfDuties, Unauthenticated


class Role(StrEnum):
    """Roles a person or system account can hold."""

    QC_ANALYST = "qc_analyst"
    QC_REVIEWER = "qc_reviewer"
    QA = "qa"
    PRODUCTION = "production"
    INTEGRATION_ADMIN = "integration_admin"
    AUDITOR = "auditor"
    MES_SYSTEM = "mes_system"
    LIMS_SYSTEM = "lims_system"


class Permission(StrEnum):
    """Actions the server checks; each route declares exactly one."""

    READ = "read"
    REQUEST_SAMPLE = "request_sample"
    REGISTER_SAMPLE = "register_sample"
    CANCEL_SAMPLE = "cancel_sample"
    ENTER_RESULT = "enter_result"
    POST_REVIEWED_RESULT = "post_reviewed_result"
    APPROVE_RESULT = "approve_result"
    INVALIDATE_RESULT = "invalidate_result"
    MANAGE_MASTERDATA = "manage_masterdata"
    APPROVE_SPEC = "approve_spec"
    MANAGE_USERS = "manage_users"
    RELEASE_BATCH = "release_batch"
    SEND_MESSAGES = "send_messages"
    MANAGE_KEYS = "manage_keys"
    MANAGE_QUARANTINE = "manage_quarantine"
    RETRY_DELIVERY = "retry_delivery"
    READ_QUARANTINE = "read_quarantine"
    READ_AUDIT = "read_audit"
    READ_OUTBOX = "read_outbox"
    INVESTIGATE_DEVIATION = "investigate_deviation"
    CLOSE_DEVIATION = "close_deviation"
    MANAGE_STABILITY = "manage_stability"
    ACKNOWLEDGE_OOT = "acknowledge_oot"
    MANAGE_EM = "manage_em"
    RECORD_EM = "record_em"
    REPORT_OCCUPANCY = "report_occupancy"
    REVIEW_AUDIT_TRAIL = "review_audit_trail"
    RUN_DATA_QUALITY = "run_data_quality"


class BadCredentials(Unauthenticated):
    """A wrong user id or password: it counts towards the account's lockout (11.300(d))."""

    default_reason = "auth.bad_credentials"

    def __init__(
        self, message: str, *, username: str, reason: str | None = None, locked: bool = False
    ):
        super().__init__(message, reason=reason, field="password")
        self.username = username
        # Said in the trail only: the caller hears the same sentence whether the id is unknown,
        # the password wrong or the account locked, so it learns nothing about the account.
        self.locked = locked


# One sentence for every failed sign-in, whatever failed (no user id enumeration).
SIGN_IN_FAILED = "Unknown user id or wrong password, or the account is locked; try again later."


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.QC_ANALYST: frozenset(
        {P.READ, P.REGISTER_SAMPLE, P.ENTER_RESULT, P.CANCEL_SAMPLE, P.RECORD_EM}
    ),
    Role.QC_REVIEWER: frozenset(
        {
            P.READ,
            P.APPROVE_RESULT,
            P.INVALIDATE_RESULT,
            P.INVESTIGATE_DEVIATION,
            P.MANAGE_STABILITY,
            P.ACKNOWLEDGE_OOT,
        }
    ),
    Role.QA: frozenset(
        {
            P.READ,
            P.APPROVE_SPEC,
            P.INVALIDATE_RESULT,
            P.CANCEL_SAMPLE,
            P.RELEASE_BATCH,
            P.INVESTIGATE_DEVIATION,
            P.CLOSE_DEVIATION,
            P.MANAGE_STABILITY,
            P.ACKNOWLEDGE_OOT,
            P.MANAGE_QUARANTINE,
            P.READ_AUDIT,
            P.READ_OUTBOX,
            P.READ_QUARANTINE,
            P.MANAGE_EM,
            P.REVIEW_AUDIT_TRAIL,
            P.RUN_DATA_QUALITY,
        }
    ),
    Role.PRODUCTION: frozenset({P.READ, P.REQUEST_SAMPLE, P.CANCEL_SAMPLE, P.REPORT_OCCUPANCY}),
    Role.INTEGRATION_ADMIN: frozenset(
        {
            P.READ,
            P.MANAGE_MASTERDATA,
            P.MANAGE_USERS,
            P.MANAGE_KEYS,
            P.MANAGE_QUARANTINE,
            P.RETRY_DELIVERY,
            P.READ_AUDIT,
            P.READ_OUTBOX,
            P.READ_QUARANTINE,
            P.RUN_DATA_QUALITY,
        }
    ),
    # Read-only, including the trail: an inspector sees everything and changes nothing (the
    # periodic reviews too: they read them; QA computes and signs them off).
    Role.AUDITOR: frozenset({P.READ, P.READ_AUDIT, P.READ_OUTBOX, P.READ_QUARANTINE}),
    Role.MES_SYSTEM: frozenset(
        {
            P.READ,
            P.REQUEST_SAMPLE,
            P.CANCEL_SAMPLE,
            P.READ_OUTBOX,
            P.SEND_MESSAGES,
            P.REPORT_OCCUPANCY,
        }
    ),
    Role.LIMS_SYSTEM: frozenset(
        {
            P.READ,
            P.REGISTER_SAMPLE,
            P.ENTER_RESULT,
            P.POST_REVIEWED_RESULT,
            P.INVALIDATE_RESULT,
            P.SEND_MESSAGES,
        }
    ),
}
SYSTEM_ROLES = frozenset({Role.MES_SYSTEM, Role.LIMS_SYSTEM})
ADMIN = Role.INTEGRATION_ADMIN
# Whoever enters, reviews, approves, releases or requests GxP data: never also its administrator,
# who could otherwise grant themselves access, set passwords and then decide (11.10(d), (g)).
GXP_DECISION_ROLES = frozenset({Role.QC_ANALYST, Role.QC_REVIEWER, Role.QA, Role.PRODUCTION})
DEFAULT_ROLE_CONFLICTS: tuple[tuple[str, str], ...] = (
    *((ADMIN.value, role.value) for role in sorted(GXP_DECISION_ROLES | {Role.AUDITOR})),
    # The four-eyes rule on results: a site may allow one person both, never on one result.
    (Role.QC_ANALYST.value, Role.QC_REVIEWER.value),
)
RoleConflicts = frozenset[frozenset[Role]]


def role_conflicts(pairs: Iterable[Sequence[str]]) -> RoleConflicts:
    """The policy from pairs of role names; ValueError names a pair that is not two roles."""
    policy: set[frozenset[Role]] = set()
    for pair in pairs:
        try:
            roles = frozenset(Role(name) for name in pair)
        except ValueError:
            options = ", ".join(r.value for r in Role)
            raise ValueError(
                f"LABGATE_ROLE_CONFLICTS: {list(pair)} names a role that does not exist; "
                f"roles are: {options}."
            ) from None
        if len(pair) != 2 or len(roles) != 2:
            raise ValueError(
                f"LABGATE_ROLE_CONFLICTS: {list(pair)} is not a pair of two different roles."
            )
        policy.add(roles)
    return frozenset(policy)


DEFAULT_POLICY: RoleConflicts = role_conflicts(DEFAULT_ROLE_CONFLICTS)


def check_role_policy(roles: frozenset[Role], conflicts: RoleConflicts) -> None:
    """Raise SegregationOfDuties if the roles hold a pair the site's policy keeps apart."""
    for pair in sorted(conflicts, key=sorted):
        if pair <= roles:
            first, second = sorted(pair)
            raise SegregationOfDuties(
                f"Roles {first} and {second} may not be held by one account "
                "(segregation of duties, LABGATE_ROLE_CONFLICTS); give them to different people.",
                reason="access.role_conflict",
                field="roles",
            )


@dataclass
class Account:
    """A person or a system account. Never deleted or renamed (11.100(a)): deactivated instead."""

    username: str
    printed_name: str
    roles: list[str] = field(default_factory=list)
    kind: str = "person"
    password_hash: str | None = None
    api_key_hash: str | None = None
    active: bool = True
    failed_attempts: int = 0
    locked_at: datetime | None = None
    locked_until: datetime | None = None  # None while locked: until an administrator unlocks
    # Set whenever an administrator chose the password: only its owner's own choice unlocks work.
    must_change_password: bool = False

    def is_locked(self, now: datetime) -> bool:
        """Locked at `now`: a lock ends by itself at locked_until, or by an administrator."""
        if self.locked_at is None:
            return False
        return self.locked_until is None or as_utc(now) < as_utc(self.locked_until)

    def lock(self, now: datetime, period: timedelta) -> None:
        """Lock after too many failures, until `period` has passed (11.300(d))."""
        self.locked_at, self.locked_until = now, now + period

    def lift_ended_lock(self, now: datetime) -> bool:
        """Clear a lock whose period is over, failures counted afresh; whether one was lifted."""
        if self.locked_at is None or self.is_locked(now):
            return False
        self.locked_at, self.locked_until, self.failed_attempts = None, None, 0
        return True

    @property
    def role_set(self) -> frozenset[Role]:
        """The roles, as enums."""
        return frozenset(Role(r) for r in self.roles)

    def permissions(self) -> frozenset[Permission]:
        """Everything the account's roles allow."""
        return frozenset(p for r in self.role_set for p in ROLE_PERMISSIONS[r])

    def require(self, permission: Permission) -> None:
        """Raise Forbidden unless one of the roles grants `permission`."""
        if not self.active:
            raise Forbidden(f"Account {self.username} is deactivated.", reason="auth.inactive")
        if self.must_change_password:
            raise Forbidden(
                f"Account {self.username} still has the temporary password an administrator set; "
                "change it first (POST /api/v1/me/password, or `labgate users change-password`).",
                reason="auth.password_change_required",
                field="password",
            )
        if permission not in self.permissions():
            roles = ", ".join(sorted(self.roles)) or "no role"
            raise Forbidden(
                f"{self.username} ({roles}) lacks the {permission.value} permission.",
                reason="access.missing_permission",
                field=permission.value,
            )
