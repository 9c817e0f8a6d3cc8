"""Strict contract mode (LABGATE_STRICT_CONTRACT): refusals that belong to no operation are
answered, not raised, and the refusals every route of a kind can give are derived into its
OpenAPI. Found by the schemathesis run (tests/contract)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from labgate.bootstrap import Hub
from labgate.config import Settings
from labgate.entrypoints.app import create_app
from plant import seed


@pytest.fixture
def strict(settings: Settings, hub: Hub) -> Iterator[TestClient]:
    """The API in-process in strict mode: an undocumented refusal raises in the test."""
    strict_settings = settings.model_copy(update={"strict_contract": True})
    with TestClient(create_app(strict_settings, hub)) as client:
        yield client


def refusal(client: TestClient, path: str, method: str, status: int) -> str:
    """One operation's refusal in the OpenAPI the app serves, as text."""
    spec = client.get("/openapi.json").json()
    return json.dumps(spec["paths"][path][method]["responses"][str(status)])


def test_a_method_no_operation_at_the_path_takes_is_answered_405(strict: TestClient) -> None:
    answer = strict.delete("/api/v1/token")
    assert answer.status_code == 405, answer.text
    assert answer.json()["reason"] == "route.method_not_allowed"
    assert answer.headers["Allow"] == "POST"


def test_a_list_documents_and_answers_a_cursor_it_did_not_give(
    strict: TestClient, hub: Hub
) -> None:
    plant = seed(hub, strict)
    assert '"page.cursor_invalid"' in refusal(strict, "/api/v1/sites/{site}/batches", "get", 422)
    answer = plant.call("auditor", "GET", "/batches", params={"cursor": "not-a-cursor"})
    assert answer.status_code == 422, answer.text
    assert (answer.json()["reason"], answer.json()["field"]) == ("page.cursor_invalid", "cursor")


def test_an_operation_without_a_cursor_does_not_document_one(strict: TestClient) -> None:
    one_batch = refusal(strict, "/api/v1/sites/{site}/batches/{batch}", "get", 422)
    assert "page.cursor_invalid" not in one_batch
