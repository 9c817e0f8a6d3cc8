"""Schemathesis over the whole OpenAPI as the QC analyst and the LIMS (samples, results, EM)."""

from __future__ import annotations

import pytest
import schemathesis
from contract_plant import RoleRun

schema = schemathesis.pytest.from_fixture("contract_schema")


# The first role on PostgreSQL, the second on SQLite (see conftest.py).
@pytest.mark.parametrize(
    ("role", "database"),
    [pytest.param("analyst", "postgres", marks=pytest.mark.postgres), ("lims", "sqlite")],
    indirect=True,
)
@schema.parametrize()
def test_every_operation_answers_as_documented(case: schemathesis.Case, role_run: RoleRun) -> None:
    """No server error, and every answer's status, media type, headers and body as the OpenAPI
    documents them for this operation (refusals with their reason codes: strict contract)."""
    case.call_and_validate(headers=role_run.headers)
