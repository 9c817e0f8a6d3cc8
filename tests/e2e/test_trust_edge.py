"""The HTTP edge: every integer the API takes is bounded (422, never a 500), bodies the parsers
must not see are refused by rule and audited, a fault answers problem+json, and `labgate serve`
cuts off a client that sends its headers or body too slowly. SQLite and PostgreSQL."""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select

from hubproc import clean_env
from labgate.adapters.store import tables as t
from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import Hub
from labgate.config import Settings
from labgate.entrypoints.app import create_app
from plant import PEOPLE, SITE, Plant, SeededPlant

CALLERS = [*PEOPLE, "mes", "lims"]
NOT_BOUNDED = {"ValidationError", "HTTPValidationError"}  # FastAPI's own error schemas


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def integer_parameters(client: TestClient) -> list[tuple[str, str, str, str]]:
    """(method, path, in, name) of every integer path and query parameter in the OpenAPI."""
    document: dict[str, Any] = client.get("/openapi.json").json()
    return [
        (method.upper(), path, p["in"], p["name"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for p in operation.get("parameters", [])
        if p["schema"].get("type") == "integer"
    ]


def first_admitted(plant: Plant, method: str, url: str, **kwargs: Any) -> Response:
    """The answer to the first caller the route admits (its permission is checked first)."""
    answer = None
    for caller in CALLERS:
        answer = plant.call(caller, method, url, **kwargs)
        if answer.status_code not in (401, 403):
            return answer
    raise AssertionError(f"nobody may call {method} {url}: {answer and answer.text}")


def path_value(name: str, value: int, match: re.Match[str]) -> str:
    """`value` for the parameter under test, the plant's site (an unknown one is 404 before the
    parameters are read), a plausible key for the others."""
    if match[1] == name:
        return str(value)
    return SITE if match[1] == "site" else "X1"


@pytest.mark.parametrize("value", [2**63, 2**64])
def test_every_integer_parameter_refuses_a_huge_value(plant: Plant, value: int) -> None:
    parameters = integer_parameters(plant.client)
    assert len(parameters) >= 12
    wrong = {}
    for method, path, where, name in parameters:
        url = re.sub(r"\{(\w+)\}", partial(path_value, name, value), path)
        params = {name: str(value)} if where == "query" else {}
        answer = first_admitted(plant, method, url, params=params, json={})
        body = answer.json()
        got = (answer.status_code, answer.headers["content-type"], body.get("field"))
        if got != (422, "application/problem+json", name) or "less_than" not in body["reason"]:
            wrong[(method, path, name)] = (got, body.get("reason"))
    assert wrong == {}


def test_every_integer_the_api_takes_has_bounds_in_the_openapi(client: TestClient) -> None:
    document: dict[str, Any] = client.get("/openapi.json").json()
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(where: str, node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "integer":
                found.append((where, node))
            for key, value in node.items():
                walk(f"{where}.{key}", value)
        elif isinstance(node, list):
            for value in node:
                walk(where, value)

    for name, schema in document["components"]["schemas"].items():
        if name not in NOT_BOUNDED:
            walk(name, schema)
    walk("paths", document["paths"])
    assert len(found) > 20
    unbounded = [where for where, node in found if not {"minimum", "maximum"} <= set(node)]
    assert unbounded == []


def audit_count(hub: Hub) -> int:
    with hub.engine.connect() as db:
        return db.scalar(select(func.count()).select_from(t.audit_entries)) or 0


MALFORMED = {
    "not UTF-8": ("application/json", b'{"reason": "caf\xe9"}', 400, "request.not_utf8"),
    "latin-1 charset": (
        "application/json; charset=iso-8859-1",
        b'{"reason": "x"}',
        400,
        "request.bad_charset",
    ),
    "deep JSON": ("application/json", b"[" * 100_000 + b"]" * 100_000, 400, "request.too_deep"),
    "half a surrogate": (
        "application/json",
        b'{"reason": "\\udc80"}',
        400,
        "request.lone_surrogate",
    ),
    "form not UTF-8": (
        "application/x-www-form-urlencoded",
        b"username=\xff&password=x",
        400,
        "request.not_utf8",
    ),
}


@pytest.mark.parametrize(("content_type", "body", "status", "reason"), MALFORMED.values(),
                         ids=MALFORMED.keys())  # fmt: skip
def test_a_malformed_body_is_refused_by_rule_and_audited(
    plant: Plant, hub: Hub, content_type: str, body: bytes, status: int, reason: str
) -> None:
    headers = plant.headers("admin") | {"Content-Type": content_type}
    before = audit_count(hub)
    url = "/api/v1/token" if "form" in content_type else "/api/v1/accounts/analyst/unlock"
    answer = plant.client.post(url, content=body, headers=headers)
    assert (answer.status_code, answer.headers["content-type"]) == (
        status,
        "application/problem+json",
    )
    assert (answer.json()["reason"], answer.json()["field"]) == (reason, "body")
    with hub.engine.connect() as db:
        entry = db.execute(select(t.audit_entries).order_by(t.audit_entries.c.seq.desc())).first()
    assert audit_count(hub) == before + 1
    assert entry is not None and entry.after["reason_code"] == reason


def test_text_that_only_looks_malformed_is_accepted(plant: Plant) -> None:
    # A surrogate pair escaped (an emoji), and a backslash followed by text that reads like an
    # escape: both are text, stored as sent.
    body = b'{"reason": "ok \\ud83d\\ude00 and \\\\udc80"}'
    headers = plant.headers("admin") | {"Content-Type": "application/json; charset=UTF-8"}
    answer = plant.client.post("/api/v1/accounts/analyst/unlock", content=body, headers=headers)
    assert answer.status_code == 200, answer.text


def test_an_unknown_route_is_audited(client: TestClient, hub: Hub) -> None:
    before = audit_count(hub)
    answer = client.get("/api/v1/nothing-here")
    assert (answer.status_code, answer.json()["reason"]) == (404, "route.unknown")
    assert audit_count(hub) == before + 1


def test_a_fault_answers_problem_json(settings: Settings, hub: Hub) -> None:
    app = create_app(settings, hub)

    @app.get("/api/v1/broken-on-purpose")
    def broken() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/api/v1/broken-on-purpose")
    assert (answer.status_code, answer.headers["content-type"]) == (500, "application/problem+json")
    assert answer.json()["reason"] == "server.error"
    assert answer.json()["correlation_id"]


# --- a real `labgate serve` against slow clients ------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`labgate serve` on a fresh SQLite file, with short header and body deadlines."""
    folder = tmp_path_factory.mktemp("serve")
    url = f"sqlite:///{folder / 'labgate.db'}"
    upgrade(url)
    port = free_port()
    env = clean_env(LABGATE_DATABASE_URL=url, LABGATE_TOKEN_SECRET=secrets.token_urlsafe(32),
                    LABGATE_HEADER_TIMEOUT_SECONDS="1", LABGATE_BODY_TIMEOUT_SECONDS="1",
                    LABGATE_KEEP_ALIVE_SECONDS="1")  # fmt: skip
    labgate = Path(sys.executable).with_name("labgate")
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen([labgate, "serve", "--port", str(port)], env=env, stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError((folder / "serve.log").read_text())
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed the connection within `seconds`, and what it sent first."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return False, received
    return True, received


def test_serve_cuts_off_a_connection_that_sends_nothing(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served)) as sock:
        assert closed_within(sock, 5) == (True, b"")


def test_serve_cuts_off_headers_sent_slowly(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served)) as sock:
        sock.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        for _ in range(3):  # a slowloris: a header line now and then, never the end
            time.sleep(0.4)
            sock.sendall(b"X-Slow: 1\r\n")
        closed, _ = closed_within(sock, 5)
        assert closed and time.monotonic() - started < 4


def test_serve_answers_408_to_a_body_sent_slowly(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served)) as sock:
        head = b"POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
        sock.sendall(head + b"Content-Type: application/x-www-form-urlencoded\r\n\r\nusername=a")
        closed, received = closed_within(sock, 5)
    assert closed
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b"request.body_timeout" in received


def test_serve_closes_an_idle_kept_alive_connection(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served)) as sock:
        sock.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n\r\n")
        closed, received = closed_within(sock, 3)  # LABGATE_KEEP_ALIVE_SECONDS=1 (uvicorn: 5)
    assert closed and received.startswith(b"HTTP/1.1 401 ")


@pytest.mark.parametrize(("content_type", "body", "status", "reason"), MALFORMED.values(),
                         ids=MALFORMED.keys())  # fmt: skip
def test_a_malformed_message_to_the_inbox_is_quarantined_with_its_bytes(
    plant: Plant, hub: Hub, content_type: str, body: bytes, status: int, reason: str
) -> None:
    headers = plant.headers("mes") | {"Content-Type": content_type}
    answer = plant.client.post("/api/v1/inbox", content=body, headers=headers)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    with hub.engine.connect() as db:
        kept = db.scalars(select(t.quarantine.c.raw)).all()
    assert kept == [body]


def test_serve_counts_refusals_by_the_connecting_address_not_a_forwarded_one(served: int) -> None:
    codes = []
    for n in range(31):  # LABGATE_ANONYMOUS_REFUSALS_PER_MINUTE is 30; each claims a new address
        with socket.create_connection(("127.0.0.1", served)) as sock:
            sock.sendall(f"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.{n}\r\n"
                         "Connection: close\r\n\r\n".encode())  # fmt: skip
            codes.append(closed_within(sock, 5)[1][9:12])
    assert codes[-1] == b"429"
