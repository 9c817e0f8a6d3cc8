"""The channel allow-list in the console's change control: the raise form's grid (a row per
channel, a box per inbound message type, prefilled with the allow-list in force; a channel left
unrestricted carries every type), read back as the API's proposal, and the request page's
per-channel comparison (what is added and removed against the allow-list it would replace)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from labgate.adapters.store.config_store import load_channel_allow_lists
from labgate.domain.change_control import ChangeKind, ChangeRequest
from labgate.domain.channel_allow_list import CHANNELS, AllowList, as_allow_list, differences
from labgate.entrypoints.web.access import hub_of
from labgate.service.change_allow_list import INBOUND_SCHEMAS

JUST_BEFORE = timedelta(microseconds=1)
LATEST = datetime.max.replace(tzinfo=UTC)  # after every version approved so far


def in_force(request: Request, session: Session, at: datetime) -> tuple[str, AllowList]:
    """The allow-list in force at `at`, and what it is (a version, or the installed setting)."""
    found = load_channel_allow_lists(session).in_force(at)
    if found is None:
        return "the installed setting", as_allow_list(hub_of(request).settings.channel_schemas)
    return f"version {found[0]}", found[1]


def raise_choices(request: Request, session: Session, now: datetime) -> dict[str, Any]:
    """What the raise form's grid shows: every channel and inbound type, ticked as in force."""
    what, allow = in_force(request, session, now)
    return {
        "allow_channels": CHANNELS,
        "allow_schemas": INBOUND_SCHEMAS,
        "allow_in_force": {ch: sorted(allow[ch]) if ch in allow else None for ch in CHANNELS},
        "allow_in_force_is": what,
    }


def channel_effects(request: Request, session: Session, cr: ChangeRequest) -> dict[str, Any]:
    """Per channel that changes: added and removed types, against the allow-list in force just
    before the request's date (for one without a date, the latest approved), as the assessment
    compares them (service/change_allow_list.py)."""
    if cr.kind is not ChangeKind.CHANNEL_ALLOW_LIST:
        return {"channel_effects": [], "channel_compared": ""}
    what, before = in_force(request, session, cr.effective_from - JUST_BEFORE
                            if cr.effective_from else LATEST)  # fmt: skip
    after = as_allow_list(cr.proposal["channels"])
    return {"channel_effects": differences(before, after, INBOUND_SCHEMAS),
            "channel_compared": what}  # fmt: skip


def allow_list_proposal(form: Mapping[str, str]) -> dict[str, Any]:
    """The grid as the API's proposal: a restricted channel with the types ticked for it."""
    return {
        "channels": {
            channel: [s for s in INBOUND_SCHEMAS if form.get(f"carry-{channel}-{s}")]
            for channel in CHANNELS
            if form.get(f"restrict-{channel}")
        }
    }
