"""The CoA and the batch dossier as an inspector reads them: every page rendered to PNG and
its text located, nothing past A4's margins, no release blocker split from its reason; the
product, the dates and the conclusion stated; times in the site's zone to the second with the
offset, people by printed name and user id; the signed and hashed data unchanged (UTC)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labgate.bootstrap import Hub
from labgate.compliance.canonical import content_hash
from pdf_pages import Page, pages
from plant import PLANT, Plant, SeededPlant, approved_result, released_batch, request_sample

MARGIN_MM = 15  # the templates' left and right page margins
LOCAL = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d")
ZONE = "Europe/Zurich"


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    seeded = seeded_plant.on(client)
    site = {**PLANT["site"], "time_zone": ZONE}
    body = {"document": {"site": site}, "reason": "CR-15: the plant's documents in its time"}
    answer = seeded.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert answer.status_code == 200, answer.text
    return seeded


def fetched(plant: Plant, document: str, format: str) -> bytes:
    answer = plant.call("production", "GET", f"/batches/B1/{document}", params={"format": format})
    assert answer.status_code == 200, answer.text
    return answer.content


def printed(plant: Plant, document: str, tmp_path: Path) -> list[Page]:
    """The document's PDF, page by page, with nothing outside the page box or its margins."""
    shown = pages(fetched(plant, document, "pdf"), tmp_path, document)
    for page in shown:
        assert (round(page.width), round(page.height)) == (595, 842), "not A4"
        assert page.outside(MARGIN_MM) == [], f"{document} page {page.number} runs off A4"
        # The rendering agrees: ink stops before the right margin, not at the paper's edge.
        assert page.inked_right < page.png_width * (1 - MARGIN_MM / 210) + 2
    return shown


@pytest.mark.requirement("URS-A11-8.1")
def test_the_coa_names_product_dates_and_conclusion_in_the_site_time(
    plant: Plant, tmp_path: Path
) -> None:
    released_batch(plant, "REQ-PRINT")
    content: dict[str, Any] = json.loads(fetched(plant, "coa", "json"))
    assert (content["product"], content["product_name"]) == ("P1", "Test tablet")
    assert (content["manufactured_on"], content["expires_on"]) == ("2026-11-01", None)
    assert content["shelf_life_months"] is None  # P1 has none: the expiry is not known
    assert content["conclusion"] == {
        "conforms": True,
        "statement": "Batch B1 conforms to specification SPEC-A version 2.",
    }
    assert content["time_zone"] == ZONE
    assert content["people"]["reviewer"] == "Reviewer Person"
    assert content["released_at"].endswith("Z") or "+00:00" in content["released_at"]
    unhashed = {k: v for k, v in content.items() if k != "content_sha256"}
    assert content["content_sha256"] == content_hash(unhashed)
    text = " ".join(page.flat() for page in printed(plant, "coa", tmp_path))
    for expected in (
        "Test tablet (P1)",
        "Date of manufacture 2026-11-01",
        "Expiry date not known: labgate holds no shelf life for product P1 in master data",
        "Batch B1 conforms to specification SPEC-A version 2.",
        "Reviewer Person (reviewer), approved,",
        "Analyst Person (analyst)",
        "released by Qa Person (qa) at",
    ):
        assert expected in text, expected
    stamps = LOCAL.findall(text)
    assert stamps and all(s.endswith("+01:00") for s in stamps), stamps  # Zurich in November
    assert content["samples"][0]["sampled_at"][:19] == "2026-11-24T10:00:00"
    assert "2026-11-24 11:00:00 +01:00" in text  # the same instant, as the plant reads it


def test_a_coa_with_a_result_out_of_specification_says_it_does_not_conform(
    plant: Plant, tmp_path: Path
) -> None:
    sample = request_sample(plant, "REQ-OOS")
    for test, value, unit in (("ASSAY", "97.1", "%"), ("WATER", "3.1", "mg/g"),
                              ("APPEAR", "White tablet", None)):  # fmt: skip
        approved_result(plant, sample, test, value, unit)
    content = json.loads(fetched(plant, "coa", "json"))
    statement = f"Batch B1 does not conform to specification SPEC-A version 2: {sample}/ASSAY."
    assert content["conclusion"] == {"conforms": False, "statement": statement}
    text = "".join(page.solid() for page in printed(plant, "coa", tmp_path))
    assert "".join(statement.split()) in text, text


@pytest.mark.requirement("URS-A11-8.1", "URS-A11-8.2")
def test_the_dossier_stays_on_a4_and_keeps_each_blocker_with_its_reason(
    plant: Plant, tmp_path: Path
) -> None:
    first = request_sample(plant, "REQ-D1")
    for test, value, unit in (("ASSAY", "99.62", "%"), ("WATER", "3.1", "mg/g"),
                              ("APPEAR", "White tablet", None)):  # fmt: skip
        approved_result(plant, first, test, value, unit)
    for n in range(2, 7):  # samples still waiting: each stops a release, with its reason
        request_sample(plant, f"REQ-D{n}")
    content = json.loads(fetched(plant, "dossier", "json"))
    assert len(content["release_blockers"]) >= 5
    shown = printed(plant, "dossier", tmp_path)
    assert len(shown) > 1
    for blocker in content["release_blockers"]:
        why = "".join(blocker["why"].split())
        holding = [p for p in shown if why in p.solid()]
        assert holding, f"the reason {why!r} is split across pages"
        assert any(blocker["kind"] in p.flat() for p in holding), f"{blocker} parted from its kind"
    text = " ".join(page.flat() for page in shown)
    assert "Reviewer Person (reviewer), approved, " in text
    assert "Analyst Person (analyst) / Reviewer Person (reviewer)" in text
    assert "Test tablet (P1)" in text
    stamps = LOCAL.findall(text)
    assert len(stamps) > 10 and all(s.endswith("+01:00") for s in stamps), stamps
    # Shown in Zurich, stored in UTC: the audit excerpt's data keep the trail's UTC times.
    assert all(e["at"].endswith("Z") for e in content["audit"]["entries"])
