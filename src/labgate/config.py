"""Settings from LABGATE_* environment variables; demo secrets are refused outside demo mode."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from labgate.compliance.access import DEFAULT_ROLE_CONFLICTS, role_conflicts
from labgate.domain.data_quality import DqWindows

DEMO_TOKEN_SECRET = "demo-only-token-secret-not-for-production-use"


class Settings(BaseSettings):
    """Every setting labgate reads; the README's table lists them."""

    model_config = SettingsConfigDict(env_prefix="LABGATE_", extra="ignore")

    database_url: str = Field(
        "sqlite:///./var/labgate.db", description="SQLAlchemy URL: SQLite file or PostgreSQL."
    )
    demo: bool = Field(False, description="Demo mode: demo accounts and the demo token secret.")
    token_secret: SecretStr | None = Field(
        None, description="Secret that signs access tokens (at least 32 characters)."
    )
    token_minutes: int = Field(30, ge=1, description="Access token lifetime in minutes.")
    lockout_after: int = Field(5, ge=1, description="Failed sign-ins or signatures before lockout.")
    audit_review_days: int = Field(
        30,
        ge=1,
        le=366,
        description="A calendar month of the audit trail not reviewed and signed off within "
        "this many days after it ends is overdue (Annex 11 §9): shown in My work.",
    )
    lockout_minutes: int = Field(
        30, ge=1, le=10_080, description="How long a lockout lasts before it ends by itself."
    )
    console_idle_minutes: int = Field(
        15,
        ge=1,
        le=720,
        description="The console asks for the password again after this many minutes without "
        "a request from the signed-in browser.",
    )
    anonymous_refusals_per_minute: int = Field(
        30,
        ge=1,
        le=100_000,
        description="Refusals one client may earn unauthenticated in a minute; beyond, 429 "
        "(sign-in included). Each minute's refusals are audited as one summary.",
    )
    max_json_depth: int = Field(
        32, ge=2, le=1000, description="Deepest nesting of arrays and objects in a JSON body."
    )
    keep_alive_seconds: int = Field(
        5, ge=1, le=300, description="`labgate serve`: idle keep-alive connections closed after."
    )
    forwarded_allow_ips: str = Field(
        "",
        description="`labgate serve`: proxies (comma-separated addresses) whose X-Forwarded-For "
        "names the client; none by default, so a client cannot pick the address it is "
        "counted against.",
    )
    header_timeout_seconds: float = Field(
        10, gt=0, le=300, description="`labgate serve`: time to send a request's headers."
    )
    body_timeout_seconds: float = Field(
        30, gt=0, le=3600, description="Time to send a request's whole body; then 408."
    )
    strict_contract: bool = Field(
        False,
        description="For tests: a refusal its operation's OpenAPI does not document is raised "
        "as a fault instead of answered.",
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted.")
    inbox_group_most: int = Field(
        64,
        ge=1,
        le=1000,
        description="Most envelopes the REST inbox commits in one group (those that arrived "
        "while the last group was written); the others wait for the next.",
    )
    external_lims: bool = Field(
        False, description="An external LIMS registers samples (else the native lab module)."
    )
    role_conflicts: list[list[str]] = Field(
        [list(pair) for pair in DEFAULT_ROLE_CONFLICTS],
        description="Pairs of roles one account may not hold together, as JSON, e.g. "
        '[["integration_admin", "qa"]]; the default keeps the administrator apart from every '
        "GxP role and the auditor, and the analyst from the reviewer.",
    )
    replay_window_seconds: int = Field(
        300,
        ge=1,
        description="How far an envelope's sent_at may be ahead of labgate's clock; how late a "
        "message comes is judged by the inbox (duplicates) and its sequence, never by this.",
    )
    hold_timeout_seconds: int = Field(
        600, ge=1, description="How long a message ahead of a sequence gap waits, then quarantine."
    )
    channel_schemas: dict[str, list[str]] = Field(
        {},
        description="Which message types each channel carries, as JSON, e.g. "
        '{"amqp": ["labgate.result.v1"]}; a channel not named carries any.',
    )
    amqp_url: SecretStr | None = Field(
        None, description="RabbitMQ URL (amqp://user:password@host:5672/vhost) for the AMQP worker."
    )
    mqtt_host: str = Field("127.0.0.1", description="MQTT broker for `labgate worker mqtt`.")
    mqtt_port: int = Field(1883, description="MQTT broker port.")
    mqtt_site: str | None = Field(
        None, description="The site whose partners `labgate worker mqtt` takes messages from."
    )
    mqtt_sources: list[str] = Field(
        [], description='Those partners (sources), as JSON, e.g. ["mes", "ipc-line-3"].'
    )
    mqtt_topic_prefix: str = Field(
        "labgate", description="Topics are <prefix>/<site>/<source>/in (levels of the topic)."
    )
    mqtt_client_id: str = Field(
        "labgate-inbox",
        description="MQTT client id of `labgate worker mqtt`: its persistent session's name. "
        "One per worker; two workers with one id would take each other's session.",
    )
    signing_key_file: Path | None = Field(
        None,
        description="labgate's private Ed25519 JWK, signing outgoing envelopes and the audit "
        "trail's checkpoints.",
    )
    checkpoint_interval_seconds: int = Field(
        300,
        ge=0,
        le=86_400,
        description="The relay (`labgate relay run`, or in `labgate serve`) signs a checkpoint "
        "of the audit trail's head this often "
        "when the trail has grown (0: never; then run `labgate audit checkpoint` from cron).",
    )
    change_apply_seconds: int = Field(
        60,
        ge=0,
        le=86_400,
        description="The relay (`labgate relay run`, or in `labgate serve`) puts in force the "
        "approved change requests whose date has come this often (0: never; then run "
        "`labgate change apply-due` from cron). A status map is in force from its date "
        "whatever the pass; the pass applies spec retirements and method deprecations and "
        "marks the requests effective.",
    )
    ntp_server: str | None = Field(
        None,
        description="The plant's NTP server (`host`, `host:port`) the hub's clock is checked "
        "against: by `labgate clock check` (cron) and by the relay every "
        "LABGATE_NTP_CHECK_SECONDS. None: the clock is not checked (the console says so).",
    )
    ntp_max_offset_ms: float = Field(
        500.0,
        gt=0,
        le=3_600_000,
        description="A check finding the hub's clock further than this from the NTP server "
        "is a drift: an alarm, audited, shown in the console.",
    )
    ntp_check_seconds: int = Field(
        300,
        ge=0,
        le=86_400,
        description="The relay checks the clock this often when an NTP server is set (0: "
        "never; then run `labgate clock check` from cron).",
    )
    dq_run_seconds: int = Field(
        3600,
        ge=0,
        le=604_800,
        description="The relay runs the data-quality rules at every site this often, the "
        "first run one interval after it starts (0: never; then run `labgate dq run` from "
        "cron).",
    )
    dq_register_hours: int = Field(
        24, ge=1, le=8760,
        description="DQ-TIMELY-001: a sample still requested (not registered by the lab) "
        "this long after it was taken is late.",
    )  # fmt: skip
    dq_preliminary_hours: int = Field(
        72, ge=1, le=8760,
        description="DQ-TIMELY-002: a result still Preliminary this long after its entry is "
        "late for review.",
    )  # fmt: skip
    dq_outbox_minutes: int = Field(
        60, ge=1, le=525_600,
        description="DQ-TIMELY-004: a message owed to the MES or LIMS and not delivered this "
        "long after its commit is late.",
    )  # fmt: skip
    relay_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="The relay (`labgate relay run`, or in `labgate serve`) looks for due "
        "messages this often even when nothing "
        "woke it: commits in its own process wake it at once, and on PostgreSQL so do commits "
        "in any process (LISTEN/NOTIFY); the poll catches the rest (SQLite across processes, "
        "retries whose back-off came due, a LISTEN connection being re-made).",
    )
    serve_relay: bool = Field(
        True,
        description="`labgate serve` (one worker process) runs the outbox relay in its own "
        "process whenever the relay has somewhere to send (LABGATE_MES_WEBHOOK_URL, …); 0: it "
        "never does, for a deployment that runs `labgate relay run` apart.",
    )
    mes_webhook_url: str | None = Field(
        None, description="Where the relay POSTs the MES's messages."
    )
    lims_webhook_url: str | None = Field(
        None, description="Where the relay POSTs an external LIMS's."
    )
    mes_transport: Literal["webhook", "amqp"] = Field(
        "webhook", description="How the relay reaches the MES: its webhook, or RabbitMQ."
    )
    lims_transport: Literal["webhook", "amqp"] = Field(
        "webhook", description="How the relay reaches an external LIMS: its webhook, or RabbitMQ."
    )
    mes_format: Literal["json", "b2mml"] = Field(
        "json", description="What the relay sends the MES: signed JSON envelopes or B2MML V0701."
    )
    webhook_timeout_seconds: float = Field(
        10, gt=0, description="How long the relay waits for a receiver."
    )
    webhook_client_cert: Path | None = Field(None, description="Client certificate for mutual TLS.")
    webhook_client_key: Path | None = Field(None, description="Client key for mutual TLS.")
    webhook_ca_file: Path | None = Field(None, description="CA bundle that verifies the receivers.")
    pack_folder: Path | None = Field(
        None, description="Drop folder for file packs (incoming/, work/, processed/, rejected/)."
    )
    sftp_host: str | None = Field(None, description="SFTP server holding the pack folders.")
    sftp_port: int = Field(22, description="SFTP server port.")
    sftp_user: str | None = Field(None, description="SFTP user name.")
    sftp_key_file: Path | None = Field(None, description="Private key labgate signs in with.")
    sftp_known_hosts: Path | None = Field(None, description="known_hosts with the server's key.")
    sftp_root: str = Field(".", description="Folder on the SFTP server holding the pack folders.")
    pack_poll_seconds: float = Field(5, gt=0, description="How often the pack worker looks.")
    pack_gpg_home: Path | None = Field(
        None, description="GnuPG home with labgate's pack key: PGP-wrapped packs are opened."
    )
    pack_gpg_passphrase: SecretStr | None = Field(None, description="Passphrase of that key.")
    pack_pgp_trusted: list[str] = Field(
        [], description="Fingerprints whose PGP signatures on packs are trusted (JSON list)."
    )
    pack_pgp_required: bool = Field(False, description="Refuse packs that are not PGP-wrapped.")
    host: str = Field("127.0.0.1", description="Address `labgate serve` listens on.")
    port: int = Field(8000, description="Port `labgate serve` listens on.")

    @field_validator("role_conflicts")
    @classmethod
    def _pairs_of_roles(cls, pairs: list[list[str]]) -> list[list[str]]:
        role_conflicts(pairs)  # a misspelt role would silently allow what the site forbids
        return pairs

    @model_validator(mode="after")
    def _secrets_fit_the_mode(self) -> Settings:
        secret = self.token_secret.get_secret_value() if self.token_secret else None
        if secret == DEMO_TOKEN_SECRET and not self.demo:
            raise ValueError("The demo token secret is refused outside demo mode (LABGATE_DEMO).")
        if secret is not None and len(secret) < 32:
            raise ValueError("LABGATE_TOKEN_SECRET needs at least 32 characters.")
        return self

    def signing_secret(self) -> str:
        """The token secret; demo mode falls back to the demo secret, production must set one."""
        if self.token_secret is not None:
            return self.token_secret.get_secret_value()
        if self.demo:
            return DEMO_TOKEN_SECRET
        raise ValueError("Set LABGATE_TOKEN_SECRET (32+ characters), or run in demo mode.")


def dq_windows(settings: Settings) -> DqWindows:
    """The timeliness rules' windows, from the settings."""
    return DqWindows(
        register_hours=settings.dq_register_hours,
        preliminary_hours=settings.dq_preliminary_hours,
        inbox_hold_seconds=settings.hold_timeout_seconds,
        outbox_minutes=settings.dq_outbox_minutes,
    )
