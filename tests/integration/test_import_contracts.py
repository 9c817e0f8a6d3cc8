"""The rings as import-linter contracts (`make check` runs `lint-imports`): kept by the tree as
it is, and broken, naming the chain, by an upward import, a cycle, a third-party import in the
domain or an import of the simulators, each made in a temporary copy of the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return found


def lint(
    tmp: Path, change: Callable[[Path], None] | None = None
) -> subprocess.CompletedProcess[str]:
    """lint-imports over a copy of labgate in `tmp`, after `change` edited the copy."""
    shutil.copytree(ROOT / "src" / "labgate", tmp / "src" / "labgate",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    if change is not None:
        change(tmp / "src" / "labgate")
    env = {"PYTHONPATH": str(tmp / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=tmp, env=env, capture_output=True,
                          text=True)  # fmt: skip


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_tree_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    answer = lint(tmp_path)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken." in answer.stdout


def test_every_package_labgate_imports_is_forbidden_to_the_domain() -> None:
    graph = grimp.build_graph("labgate", include_external_packages=True)
    external = {m for m in graph.modules if "." not in m and m != "labgate"}
    third_party = external - set(sys.stdlib_module_names)
    [domain] = [c for c in contracts() if c.get("source_modules") == ["labgate.domain"]]
    forbidden = set(domain["forbidden_modules"])  # type: ignore[call-overload]
    assert third_party - forbidden == set(), "add these to the domain's forbidden_modules"


@pytest.mark.parametrize(
    ("module", "line", "broken", "chain"),
    [
        # an upward import: the domain reaching for the store
        ("domain/units.py", "import labgate.adapters.store.tables", "The rings",
         "labgate.domain.units -> labgate.adapters.store.tables"),
        # a third-party library in the domain
        ("domain/numbers.py", "import sqlalchemy", "The domain imports nothing",
         "labgate.domain.numbers -> sqlalchemy"),
        # the product importing a simulator
        ("adapters/connectors/rest_lims.py", "import labgate_sim.lims", "The product never",
         "labgate.adapters.connectors.rest_lims -> labgate_sim.lims"),
        # a cycle between two packages of one ring (relay already imports outbox)
        ("service/outbox/records.py", "import labgate.service.outbox.relay", "No cycles",
         "No cycles are allowed in labgate.service"),
    ],
)  # fmt: skip
def test_a_contract_broken_in_a_copy_fails_and_names_the_import(
    tmp_path: Path, module: str, line: str, broken: str, chain: str
) -> None:
    answer = lint(tmp_path, lambda package: append(package / module, line))
    assert answer.returncode == 1, answer.stdout
    report = answer.stdout
    verdicts = [row for row in report.splitlines() if " KEPT" in row or " BROKEN" in row]
    [verdict] = [row for row in verdicts if row.startswith(broken)]
    assert " BROKEN" in verdict, report
    assert chain in report, report
