"""Liveness and readiness for load balancers, without credentials; and a 405 that names every
method its path takes. On SQLite and on PostgreSQL."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from pydantic import SecretStr

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import alembic_config, head_revision
from labgate.bootstrap import Hub
from labgate.config import Settings
from labgate.entrypoints.app import create_app
from streams import AMQP_URL


def reason_of(answer: Response) -> tuple[int, str, str, str | None]:
    """Status, media type, reason code and field of a problem answer."""
    body = answer.json()
    media_type = answer.headers["content-type"].split(";")[0]
    return answer.status_code, media_type, body["reason"], body["field"]


def client_with_broker(settings: Settings, hub: Hub, url: str) -> TestClient:
    """The app of a deployment whose LABGATE_AMQP_URL is `url`."""
    configured = settings.model_copy(update={"amqp_url": SecretStr(url)})
    hub.settings = configured
    return TestClient(create_app(configured, hub))


def closed_port() -> int:
    """A loopback port nothing listens on: a broker that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_health_answers_without_credentials(client: TestClient) -> None:
    answer = client.get("/health")
    assert (answer.status_code, answer.json()["status"]) == (200, "up")


def test_ready_when_the_database_is_current(client: TestClient) -> None:
    answer = client.get("/ready")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ready", "checks": {"database": f"schema {head_revision()}"}}


def test_not_ready_when_the_schema_falls_behind(client: TestClient, settings: Settings) -> None:
    from alembic import command

    command.downgrade(alembic_config(settings.database_url), "-1")
    answer = client.get("/ready")
    assert reason_of(answer) == (503, "application/problem+json", "ready.schema_behind", "database")
    assert "labgate db upgrade" in answer.json()["detail"]
    assert client.get("/health").status_code == 200  # the process is up all the same


def test_not_ready_when_the_database_cannot_be_reached(
    client: TestClient, hub: Hub, settings: Settings, tmp_path: Path
) -> None:
    gone = (
        f"sqlite:///{tmp_path}"  # a folder: SQLite cannot open it as a database
        if settings.database_url.startswith("sqlite")
        else settings.database_url.rsplit("/", 1)[0] + "/labgate_no_such_database"
    )
    working, hub.engine = hub.engine, make_engine(gone)
    try:
        answer = client.get("/ready")
    finally:
        hub.engine.dispose()
        hub.engine = working
    assert reason_of(answer) == (
        503,
        "application/problem+json",
        "ready.database_unreachable",
        "database",
    )
    assert "labgate_no_such_database" not in answer.text  # the URL is not echoed


@pytest.fixture
def down_broker(settings: Settings, hub: Hub) -> Iterator[TestClient]:
    with client_with_broker(settings, hub, f"amqp://guest:guest@127.0.0.1:{closed_port()}/") as c:
        yield c


def test_not_ready_when_the_configured_broker_is_down(down_broker: TestClient) -> None:
    answer = down_broker.get("/ready")
    assert reason_of(answer) == (
        503,
        "application/problem+json",
        "ready.broker_unreachable",
        "amqp_url",
    )
    assert "guest" not in answer.text  # the URL's credentials are never echoed


def test_ready_when_the_configured_broker_answers(settings: Settings, hub: Hub) -> None:
    with client_with_broker(settings, hub, AMQP_URL) as client:
        answer = client.get("/ready")
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"]["broker"] == "reachable"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/accounts", "GET, POST"),  # two routes on one path
        ("PUT", "/api/v1/sites/T1/samples", "GET, POST"),
        ("POST", "/health", "GET"),
    ],
)
def test_a_405_names_every_method_of_its_path(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    answer = client.request(method, path)
    assert reason_of(answer) == (405, "application/problem+json", "route.method_not_allowed", None)
    assert answer.headers["Allow"] == allow
