"""The ICD's content from the configuration this process runs with: the store's partners and
master data, the settings' channels, windows and transports, the published schemas, the
intake's reason codes and the relay's delivery policy. One function, so the API, the console
and the CLI generate the same document from the same configuration."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from labgate.adapters.store.icd_sources import partners, site_configuration
from labgate.compliance.canonical import content_hash
from labgate.config import Settings
from labgate.entrypoints.api.routes.interfaces import INBOX_REFUSALS
from labgate.service.icd.document import IcdSources, icd_content
from labgate.service.outbox.relay import BASE_DELAY, MAX_ATTEMPTS, MAX_DELAY
from labgate.service.schema_catalog import json_schemas


def current_icd(session: Session, settings: Settings, site: str) -> dict[str, Any]:
    """The content the configuration in force gives for `site`."""
    schemas = [
        {"id": schema_id, "direction": schema.get("x-direction", "envelope"),
         "sha256": content_hash(schema)}
        for schema_id, schema in json_schemas().items()
    ]  # fmt: skip
    configuration = site_configuration(session, site)
    sources = IcdSources(
        site=site,
        site_name=configuration["site_name"],
        partners=partners(session),
        channel_schemas={k: list(v) for k, v in settings.channel_schemas.items()},
        schemas=schemas,
        replay_window_seconds=settings.replay_window_seconds,
        hold_timeout_seconds=settings.hold_timeout_seconds,
        mappings=configuration["mappings"],
        aliases=configuration["aliases"],
        status_rules=configuration["status_rules"],
        units=configuration["units"],
        rounding=configuration["rounding"],
        reason_codes=dict(INBOX_REFUSALS),
        delivery=_delivery(settings),
    )
    return icd_content(sources)


def _delivery(settings: Settings) -> dict[str, Any]:
    return {
        "to_mes": f"{settings.mes_transport} ({settings.mes_format})",
        "to_lims": settings.lims_transport,
        "signed_with": "labgate's Ed25519 key (LABGATE_SIGNING_KEY_FILE); receivers check it",
        "attempts_before_dead_letter": MAX_ATTEMPTS,
        "backoff": f"exponential from {BASE_DELAY.total_seconds():g} s, at most "
        f"{MAX_DELAY.total_seconds():g} s between attempts",
        "webhook_timeout": f"{settings.webhook_timeout_seconds:g} s",
        "dead_letters": "audited, listed by GET /api/v1/outbox/dead, sent again only by an "
        "operator (POST /api/v1/outbox/retry)",
        "receivers": "a partner's webhook answers 2xx once it has taken an envelope, 2xx again "
        "for a message id it has taken (and changes nothing), 202 to hold or 409 to refuse a "
        "message ahead of a sequence gap on its stream (never applied before the missing one), "
        "4xx with a reason for a bad signature, an unknown key id, a payload off its schema or a "
        f"sent_at more than {settings.replay_window_seconds} s from its clock; "
        "`labgate conformance run` checks these",
        "refused_inbound": "quarantined with the raw bytes and a reason code (section 10), "
        "audited; reprocessed or discarded by an operator with an e-signature",
    }
