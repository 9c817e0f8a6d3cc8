"""The README's walk-through runs as written: its shell blocks, in order, against `labgate serve`
on a seeded demo plant, with the credentials the seed printed pasted in as the README says."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from hubproc import Hub

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## The demo plant, and one sample through it"


def walkthrough_blocks() -> list[str]:
    """The `sh` code blocks of the README's walk-through section, in order."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, "the README lost its walk-through section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)


def pasted(hub: Hub) -> str:
    """What a reader pastes over the placeholders: the served URL and the printed credentials."""
    values = {
        "LABGATE": f"{hub.url}/api/v1",
        "MES_KEY": hub.credentials["mes"],
        "ANALYST_PASSWORD": hub.credentials["analyst"],
        "REVIEWER_PASSWORD": hub.credentials["reviewer"],
    }
    return "\n".join(f"{name}={shlex.quote(value)}" for name, value in values.items())


def test_the_readme_names_the_demo_data_and_placeholders() -> None:
    blocks = walkthrough_blocks()
    assert len(blocks) >= 4
    assert "SITE=PLT1" in blocks[0]
    for name in ("MES_KEY=", "ANALYST_PASSWORD=", "REVIEWER_PASSWORD="):
        assert name in blocks[0], f"the first block sets {name}"


def test_the_readme_walkthrough_runs_against_a_served_demo(running: Hub) -> None:
    # `make run` has the native lab (no external LIMS): the analyst registers the sample.
    running.start("serve", "serve", "--port", str(running.port), LABGATE_EXTERNAL_LIMS="0")
    running.wait_serving()
    first, *rest = walkthrough_blocks()
    # -e and pipefail: any curl -f that meets an HTTP error, or a jq that fails, stops the walk.
    script = "\n".join(["set -euo pipefail", first, pasted(running), *rest])
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    out = done.stdout
    sample = re.search(r"^sample (S-\d+)$", out, re.MULTILINE)
    assert sample, out
    assert re.search(rf"^result {sample[1]}-R1 preliminary 1\.2 Pending$", out, re.MULTILINE)
    assert f'{{"sample":"{sample[1]}","mes_status":"Accepted"' in out
    assert '"printed_name":"Rolf Reviewer","meaning":"approved","status":"valid"' in out
    assert f'"{sample[1]} Accepted"' in out and '"batch":"B-PCM-24002"' in out
    gran = '{"operation":"PR-PCM-500/GRAN/WET","may_complete":false,"waiting_for":["SP-PCM-GRAN"]}'
    assert gran in out
