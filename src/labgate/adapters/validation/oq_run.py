"""The OQ run: the tests that carry requirement ids, run by pytest in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_marked_tests(tests: Path, junit: Path) -> int:
    """Run every test marked `requirement` under `tests`, writing JUnit XML to `junit`;
    pytest's exit code (failures are the pack's to judge, from the report)."""
    command = [sys.executable, "-m", "pytest", "-q", "-m", "requirement",
               f"--junitxml={junit}", "-p", "no:cacheprovider", str(tests)]  # fmt: skip
    # The tests make their own databases and settings: the LABGATE_* configuration the pack
    # describes (its IQ) must not leak into them.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LABGATE_")}
    return subprocess.run(command, env=environment, check=False).returncode
