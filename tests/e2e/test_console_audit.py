"""The console's audit pages over HTTP on both databases: a search by correlation id, person,
action and local time range gives exactly the entries GET /api/v1/audit gives for the same
question; an entry's change field by field with its seal; the chain check as GET
/api/v1/audit/verify answers it; the export download and its hash; and nothing an auditor may
use to write (a forged POST refused 403, audited)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import secrets
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from test_console import csrf_of, sign_in, trail

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import Hub, bootstrap
from labgate.config import Settings
from labgate.entrypoints.app import create_app
from plant import PLANT, SITE, Plant, request_sample, seed

AUDIT = f"/console/sites/{SITE}/audit"
PG_ADMIN = os.environ.get("LABGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Shared:
    """One seeded plant per database for the console's audit and account tests (seeding is
    most of their time); each test adds its own data and compares with what the API answers,
    so they stay apart."""

    plant: Plant
    hub: Hub
    clock: ManualClock
    url: str


SEEDED: dict[str, Shared] = {}


def _database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'labgate.db'}"
        return
    name = f"labgate_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _seeded(kind: str, folder: Path, stack: ExitStack) -> Shared:
    url = stack.enter_context(contextmanager(_database)(kind, folder))
    upgrade(url)
    settings = Settings(database_url=url, token_secret=secrets.token_urlsafe(32))
    clock = ManualClock(START)
    hub = bootstrap(settings, clock=clock)
    stack.callback(hub.close)
    client = stack.enter_context(TestClient(create_app(settings, hub)))
    plant = seed(hub, client)
    body = {"document": {"site": {**PLANT["site"], "time_zone": "Europe/Zurich"}},
            "reason": "CR-20: the plant's time"}  # fmt: skip
    answer = plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert answer.status_code == 200, answer.text
    return Shared(plant, hub, clock, url)


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Shared:
    """The test plant, its site in Europe/Zurich, seeded once per database for the session
    (test_console_accounts.py imports this fixture: the cache makes both modules share it)."""
    if request.param not in SEEDED:
        stack = ExitStack()
        request.session.config.add_cleanup(stack.close)
        SEEDED[request.param] = _seeded(request.param, tmp_path_factory.mktemp("console"), stack)
    return SEEDED[request.param]


def seqs_on(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', html)]


def api_seqs(plant: Plant, **params: Any) -> list[int]:
    answer = plant.call("auditor", "GET", "/api/v1/audit", params={"order": "newest", **params})
    assert answer.status_code == 200, answer.text
    return [e["seq"] for e in answer.json()["items"]]


def traced(plant: Plant, user: str, method: str, path: str, trace: str, **kw: Any) -> Any:
    headers = {**plant.headers(user), "X-Correlation-ID": trace}
    url = f"/api/v1/sites/{SITE}{path}"
    return plant.client.request(method, url, headers=headers, **kw)


def test_a_correlation_id_gives_exactly_the_apis_entries_for_it(shared: Shared) -> None:
    plant = shared.plant
    body = {"mes_request_id": "REQ-T", "product": "P1", "sampled_at": "2026-11-24T10:00:00Z",
            "batch": "B1", "sampling_point": "SP-REL"}  # fmt: skip
    made = traced(plant, "mes", "POST", "/sample-requests", "trace-7", json=body)
    assert made.status_code == 201, made.text
    sample = made.json()["code"]
    registered = traced(plant, "lims", "POST", f"/samples/{sample}/registration", "trace-7",
                        json={"lims_sample_id": "L-T"})  # fmt: skip
    assert registered.status_code == 200, registered.text
    request_sample(plant, "REQ-OTHER")  # another trace, not to be shown
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    page = plant.client.get(AUDIT, params={"correlation_id": "trace-7"})
    assert page.status_code == 200, page.text
    expected = api_seqs(plant, correlation_id="trace-7")
    assert seqs_on(page.text) == expected and len(expected) >= 2
    actions = re.findall(r"<code data-action>([^<]+)</code>", page.text)
    assert "sample.requested" in actions and "sample.registered" in actions
    # Every row's correlation id leads to all entries with that id, oldest first.
    assert 'href="/console/sites/T1/audit?correlation_id=trace-7&amp;order=oldest"' in page.text
    oldest = plant.client.get(AUDIT, params={"correlation_id": "trace-7", "order": "oldest"})
    assert seqs_on(oldest.text) == sorted(expected)


def test_a_search_by_person_and_action_pages_as_the_api_does(shared: Shared) -> None:
    plant = shared.plant
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    asked = {"actor": "admin", "action": "masterdata.created"}
    expected = api_seqs(plant, **asked, limit=100)
    assert expected
    page = plant.client.get(AUDIT, params={**asked, "limit": 100})
    assert seqs_on(page.text) == expected
    everything = api_seqs(plant, actor="test-setup", limit=1000)
    first = plant.client.get(AUDIT, params={"actor": "test-setup", "limit": 5})
    link = re.search(r'href="([^"]*cursor=[^"]+)"[^>]*rel="next"', first.text)
    assert link, first.text
    second = plant.client.get(link.group(1).replace("&amp;", "&"))
    assert seqs_on(first.text) + seqs_on(second.text) == everything[:10]
    partial = plant.client.get(link.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<section id="results"')  # htmx: the table only
    assert seqs_on(partial.text) == seqs_on(second.text)
    assert 'title="user id: test-setup"' in first.text


def test_local_times_become_the_apis_utc_bounds_from_inclusive_until_exclusive(
    shared: Shared,
) -> None:
    plant, clock = shared.plant, shared.clock
    clock.advance(hours=2)  # 11:00 UTC = 12:00 in Zurich (CET, +01:00)
    plant.tokens.clear()
    request_sample(plant, "REQ-A")
    clock.advance(hours=1)  # 12:00 UTC
    plant.tokens.clear()  # the API tokens issued at 09:00 have expired by now
    request_sample(plant, "REQ-B")
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    asked = {"from_local": "2026-11-25T12:00:00", "to_local": "2026-11-25T13:00:00"}
    page = plant.client.get(AUDIT, params={**asked, "order": "oldest", "limit": 100})
    assert page.status_code == 200, page.text
    bounds = {"from_at": "2026-11-25T11:00:00Z", "to_at": "2026-11-25T12:00:00Z"}
    assert '<time datetime="2026-11-25T11:00:00Z" data-utc="from">' in page.text
    assert '<time datetime="2026-11-25T12:00:00Z" data-utc="to">' in page.text
    expected = api_seqs(plant, **bounds, order="oldest")
    assert seqs_on(page.text) == expected
    listed = plant.call("auditor", "GET", "/api/v1/audit", params={"limit": 1000}).json()
    at = {e["seq"]: e["at"] for e in listed["items"]}
    assert {at[s] for s in expected} == {"2026-11-25T11:00:00.000000Z"}  # 12:00 is excluded
    assert "2026-11-25T12:00:00.000000Z" in at.values()
    assert "2026-11-25 12:00:00 +01:00" in page.text


def test_a_local_time_the_site_skips_is_refused_naming_the_field(shared: Shared) -> None:
    plant, hub = shared.plant, shared.hub
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    page = plant.client.get(AUDIT, params={"from_local": "2026-03-29T02:30:00"})
    assert page.status_code == 422
    assert 'data-reason="input.local_time_missing"' in page.text and "from_local" in page.text
    assert 'value="2026-03-29T02:30:00"' in page.text  # the form keeps what was typed
    assert trail(hub, "refused.console.audit_search")


def test_an_entry_shows_its_change_field_by_field_and_its_seal(shared: Shared) -> None:
    plant = shared.plant
    answer = plant.call("admin", "POST", "/api/v1/accounts/reviewer/deactivate",
                        json={"reason": "left the company"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    found = plant.call("auditor", "GET", "/api/v1/audit",
                       params={"action": "account.deactivated", "order": "newest"})  # fmt: skip
    entry = found.json()["items"][0]
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    page = plant.client.get(f"{AUDIT}/{entry['seq']}")
    assert page.status_code == 200, page.text
    row = re.search(r'<tr data-field="active" data-change="changed">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    assert "<code>true</code>" in row.group(1).split("data-after")[0]
    assert "<code>false</code>" in row.group(1).split("data-after")[1]
    assert 'data-field="failed_attempts"' not in page.text  # unchanged: counted, not listed
    assert "left the company" in page.text and entry["hash"] in page.text
    assert 'data-sealed="true"' in page.text and 'data-linked="true"' in page.text
    assert 'title="user id: admin">Admin Person' in page.text


def test_the_chain_check_is_the_apis_and_names_the_first_broken_entry(shared: Shared) -> None:
    plant, hub = shared.plant, shared.hub
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    api = plant.call("auditor", "GET", "/api/v1/audit/verify").json()
    page = plant.client.get(f"{AUDIT}/verify")
    assert api["ok"] and 'data-verdict="ok"' in page.text
    assert f"<dd data-checked>{api['checked']}</dd>" in page.text
    entries = t.audit_entries
    with hub.sessions() as session:
        sealed = session.scalar(select(entries.c.reason).where(entries.c.seq == 5))
    try:
        edit(shared.url, "edited behind labgate's back")
        api = plant.call("auditor", "GET", "/api/v1/audit/verify").json()
        page = plant.client.get(f"{AUDIT}/verify")
        assert not api["ok"] and 'data-verdict="broken"' in page.text
        assert f"<dd data-first-broken>{api['first_broken']}</dd>" in page.text
        assert api["reason"] in page.text
        assert 'data-sealed="false"' in plant.client.get(f"{AUDIT}/5").text
    finally:
        edit(shared.url, sealed)  # the other tests share this trail


def edit(url: str, reason: str | None) -> None:
    """Change entry 5 behind labgate's back, as an intruder with the database owner's rights
    could: the trail's guards lifted and put back in the same transaction."""
    engine = make_engine(url)
    with engine.begin() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            guards = connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'audit_entries'"
            ).all()
            for name, _ in guards:
                connection.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            connection.exec_driver_sql("ALTER TABLE audit_entries DISABLE TRIGGER USER")
        entries = t.audit_entries
        connection.execute(update(entries).where(entries.c.seq == 5).values(reason=reason))
        if sqlite:
            for _, sql in guards:
                connection.exec_driver_sql(sql)
        else:
            connection.exec_driver_sql("ALTER TABLE audit_entries ENABLE TRIGGER USER")
    engine.dispose()


def test_the_export_downloads_as_the_cli_writes_it_and_its_hash_matches(shared: Shared) -> None:
    plant = shared.plant
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    shown = plant.client.get(f"{AUDIT}/export")
    assert shown.status_code == 200, shown.text
    sha = re.search(r"<code class=\"hash\" data-sha256>([0-9a-f]{64})</code>", shown.text)
    download = plant.client.get(f"{AUDIT}/export.zip", params={"readable": "csv"})
    assert download.status_code == 200
    digest = hashlib.sha256(download.content).digest()
    assert download.headers["repr-digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    assert download.headers["content-type"] == "application/zip"
    html = plant.client.get(f"{AUDIT}/export.zip").content
    assert sha and sha.group(1) == hashlib.sha256(html).hexdigest()  # the page's hash: its bytes
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert sorted(archive.namelist()) == ["audit.checkpoints.json", "audit.csv", "audit.jsonl"]
        lines = archive.read("audit.jsonl").decode().splitlines()
    checked = plant.call("auditor", "GET", "/api/v1/audit/verify").json()["checked"]
    assert len(lines) == checked


def test_the_auditor_is_offered_no_write_and_a_forged_one_is_refused(shared: Shared) -> None:
    plant, hub = shared.plant, shared.hub
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    seq = api_seqs(plant, limit=1)[0]
    for path in (AUDIT, f"{AUDIT}/{seq}", f"{AUDIT}/verify", f"{AUDIT}/export"):
        html = plant.client.get(path).text
        posts = re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', html)
        assert posts == ["/console/sign-out"], (path, posts)  # only signing out
        assert "/accounts" not in html
    assert plant.client.get(f"/console/sites/{SITE}/accounts").status_code == 403
    token = csrf_of(plant.client.get(AUDIT).text)
    forged = plant.client.post(
        f"/console/sites/{SITE}/accounts/analyst/state",
        data={"csrf_token": token, "action": "deactivate", "reason": "forged"},
    )
    assert forged.status_code == 403
    assert "access.missing_permission" in forged.text
    refused = trail(hub, "refused.console.account_state")
    assert refused and refused[-1]["actor"] == "auditor"
    listed = {a["username"]: a for a in plant.call("admin", "GET", "/api/v1/accounts").json()}
    assert listed["analyst"]["active"] is True
