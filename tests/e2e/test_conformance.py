"""The conformance kit (`labgate conformance run`) against the simulated MES and LIMS started as
processes, as a plant's integration engineer runs it before go-live: every case passes against
a conforming simulator; a simulator started --broken fails exactly the case its mode stands for,
and the report says why; the report's signature holds, and breaks when the report is changed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hubproc import LABGATE_SIM, Proc
from labgate.compliance.signer import Signer
from labgate.entrypoints.cli.main import app
from labgate.service.conformance.cases import Kind
from labgate.service.conformance.examples import LIMS_TYPES, MES_TYPES
from sshd import free_port

# Two modes as processes (the CI budget); tests/unit/test_conformance_cases.py plays all six.
BROKEN = {"accept-bad-signature": Kind.BAD_SIGNATURE, "apply-duplicates": Kind.DUPLICATE}
WHY = {
    Kind.BAD_SIGNATURE: 'answered HTTP 200 \'{"status":"taken"}\', not 4xx',
    Kind.DUPLICATE: "time(s), not 1",
}


class Sims:
    """The kit's key and simulators listening with its public half as labgate's key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.signer = Signer.generate("labgate-conformance-1")
        self.key_file = folder / "kit.private.jwk.json"
        self.key_file.write_text(json.dumps({**self.signer.private_jwk, "kid": self.signer.kid}))
        self.public = folder / "kit.public.jwk.json"
        self.public.write_text(json.dumps({**self.signer.public_jwk, "kid": self.signer.kid}))
        self.procs: dict[str, tuple[Proc, str]] = {}

    def start(self, name: str, kind: str, *args: str) -> None:
        """`labgate-sim KIND` on a port of its own; no labgate behind it (none is needed)."""
        port, log = free_port(), self.folder / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [LABGATE_SIM, kind, "--labgate-key", str(self.public), "--port", str(port),
                 "--url", "http://127.0.0.1:9", "--api-key", "unused",
                 "--key-file", str(self.folder / f"{name}.private.jwk.json"),
                 *(("--count", "0") if kind == "mes" else ()), *args],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.procs[name] = (Proc(name, process, log), f"http://127.0.0.1:{port}/")

    def target(self, name: str) -> str:
        """The simulator's webhook URL, once it listens."""
        proc, url = self.procs[name]
        proc.wait_for("webhook listening")
        return url

    def run(self, partner: str, name: str, out: Path, *more: str) -> Any:
        """`labgate conformance run` against the named simulator."""
        args = ["conformance", "run", "--partner", partner, "--target", self.target(name),
                "--out", str(out), "--key-file", str(self.key_file), *more]  # fmt: skip
        return CliRunner().invoke(app, args)

    def stop(self) -> None:
        """Stop every simulator: all signalled first, then each waited for."""
        for proc, _ in self.procs.values():
            proc.process.terminate()
        for proc, _ in self.procs.values():
            proc.stop()


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sims]:
    """A conforming MES and LIMS, and an MES per broken mode, started together (in parallel)."""
    running = Sims(tmp_path_factory.mktemp("conformance"))
    running.start("mes", "mes")
    running.start("lims", "lims")
    for mode in BROKEN:
        running.start(mode, "mes", "--broken", mode)
    yield running
    running.stop()


def _report(out: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((out / "conformance-report.json").read_bytes())
    return report


@pytest.mark.requirement("URS-A11-5", category="positive")
@pytest.mark.parametrize(("partner", "types"), [("mes", MES_TYPES), ("lims", LIMS_TYPES)])
def test_every_case_passes_against_a_conforming_simulator(
    sims: Sims, tmp_path: Path, partner: str, types: tuple[str, ...]
) -> None:
    done = sims.run(partner, partner, tmp_path)
    assert done.exit_code == 0, done.output
    report = _report(tmp_path)
    cases = report["cases"]
    assert report["summary"] == {"cases": 7 * len(types), "passed": 7 * len(types),
                                 "failed": 0, "result": "pass"}  # fmt: skip
    assert {(c["message_type"], c["case"]) for c in cases} == {
        (schema, kind.value) for schema in types for kind in Kind
    }
    for case in cases:
        assert case["checked"] == "the answers and the partner's record of what it applied"
        for exchange in case["exchanges"]:
            assert len(exchange["sent"]["sha256"]) == 64
            assert exchange["sent"]["envelope"]["source"] == "labgate"
            assert exchange["answer"]["status"] > 0
    duplicate = next(c for c in cases if c["case"] == "duplicate")
    valid = next(c for c in cases if c["case"] == "valid")
    sent = valid["exchanges"][0]["sent"]
    assert duplicate["exchanges"][0]["sent"] == sent  # the same bytes again
    held = next(c for c in cases if c["case"] == "out_of_order")["exchanges"][0]["answer"]
    assert held["status"] == 202, held
    drift = next(c for c in cases if c["case"] == "schema_drift")["exchanges"]
    assert all("envelope.schema_violation" in e["answer"]["body"] for e in drift)
    assert (
        f"{len(cases)} of {len(cases)} cases passed: PASS" in (tmp_path / "report.txt").read_text()
    )


@pytest.mark.requirement("URS-A11-5", category="negative")
@pytest.mark.parametrize("mode", list(BROKEN))
def test_a_broken_simulator_fails_the_case_it_breaks(sims: Sims, tmp_path: Path, mode: str) -> None:
    types = ["labgate.mes_result.v1", "labgate.batch_hold.v1"]  # two suffice; all is slow
    done = sims.run("mes", mode, tmp_path, *(f"--message-type={t}" for t in types))
    assert done.exit_code == 1, done.output
    kind = BROKEN[mode]
    failed = [c for c in _report(tmp_path)["cases"] if c["result"] == "fail"]
    assert {c["case"] for c in failed} == {kind.value}
    assert {c["message_type"] for c in failed} == set(types)
    assert all(WHY[kind] in c["why"] for c in failed), failed[0]["why"]
    assert f"FAILED labgate.mes_result.v1 {kind.value}: " in done.stderr


@pytest.mark.requirement("URS-A11-5", category="negative")
def test_the_report_signature_holds_and_a_changed_report_breaks_it(
    sims: Sims, tmp_path: Path
) -> None:
    assert (
        sims.run("lims", "lims", tmp_path, "--message-type=labgate.sample_cancelled.v1").exit_code
        == 0
    )
    verify = ["conformance", "verify", str(tmp_path)]
    checked = CliRunner().invoke(app, [*verify, "--public-key", str(sims.public)])
    assert checked.exit_code == 0, checked.output
    report = tmp_path / "conformance-report.json"
    report.write_bytes(report.read_bytes().replace(b'"result":"pass"', b'"result":"fail"', 1))
    changed = CliRunner().invoke(app, [*verify, "--public-key", str(sims.public)])
    assert changed.exit_code == 1
    assert "envelope.bad_signature" in changed.output


def test_an_unreachable_partner_fails_every_case_and_says_why(sims: Sims, tmp_path: Path) -> None:
    args = ["conformance", "run", "--partner", "lims", "--target", "http://127.0.0.1:9/",
            "--out", str(tmp_path), "--key-file", str(sims.key_file), "--timeout", "2"]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 1
    report = _report(tmp_path)
    assert report["summary"]["passed"] == 0
    assert "ConnectError" in report["cases"][0]["why"]
