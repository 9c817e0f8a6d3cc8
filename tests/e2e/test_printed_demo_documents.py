"""The demo plant's CoA and dossier as printed by the CLI: its richest batches (IPC and release
samples, deviations, a long audit trail) stay inside A4 on every page, in Basel's time."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from labgate.entrypoints.cli.main import app
from pdf_pages import Page, pages

PLANT = yaml.safe_load((resources.files("labgate.demo") / "plant.yaml").read_text("utf-8"))
BATCHES = [batch["code"] for batch in PLANT["batches"]]
LOCAL = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0[12]:00")  # Zurich: winter or summer


def labgate(url: str, *args: str, demo: bool = False) -> Result:
    env = {"LABGATE_DATABASE_URL": url, "LABGATE_DEMO": "1" if demo else None,
           "LABGATE_TOKEN_SECRET": secrets.token_urlsafe(32)}  # fmt: skip
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A demo plant seeded through the CLI on SQLite: the layout does not depend on the backend."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'labgate.db'}"
    assert labgate(url, "db", "upgrade").exit_code == 0
    seeded = labgate(url, "demo", "seed", demo=True)
    assert seeded.exit_code == 0, seeded.output
    yield url


def printed(url: str, kind: str, batch: str, folder: Path) -> list[Page]:
    out = folder / f"{kind}-{batch}.pdf"
    result = labgate(url, kind, batch, "--site", "PLT1", "--out", str(out), "--format", "pdf")
    assert result.exit_code == 0, result.output
    shown = pages(out.read_bytes(), folder, f"{kind}-{batch}")
    for page in shown:
        assert page.outside(15) == [], f"{kind} {batch} page {page.number} runs off A4"
        assert page.inked_right < page.png_width * (1 - 15 / 210) + 2
    return shown


@pytest.mark.parametrize("kind", ["coa", "dossier"])
def test_the_demo_release_documents_stay_inside_a4(demo: str, kind: str, tmp_path: Path) -> None:
    shown = printed(demo, kind, BATCHES[0], tmp_path)  # released, with IPC samples and a CoA
    text = " ".join(page.flat() for page in shown)
    assert "Europe/Zurich" in text and LOCAL.search(text)
    assert "T" not in "".join(LOCAL.findall(text))  # no ISO UTC form among the shown times


def test_every_demo_dossier_stays_inside_a4(demo: str, tmp_path: Path) -> None:
    for batch in BATCHES:  # mid-flight, on hold, with OOS investigations at each stage
        text = " ".join(page.flat() for page in printed(demo, "dossier", batch, tmp_path))
        # Every time shown, the invalidations' sentences too, is Basel's, not the stored UTC.
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text), batch
