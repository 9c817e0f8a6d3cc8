"""The `cli.start` lines of `make bench`: how long `labgate --help` and `labgate evaluate` take
from process start to exit, against `python -c pass` timed in the same run.

Each command runs as an operator runs it (the installed `labgate` script, or `python -m labgate`
where there is none) in a fresh process. The runs are interleaved with the baseline's, so load
from other work falls on both alike. Rates are starts per second over all timed runs; p50 and
p99 are each start's wall time in milliseconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from labgate.entrypoints.bench import Figure, percentile

RUNS = int(os.environ.get("LABGATE_BENCH_CLI_RUNS", "20"))
BASELINE = [sys.executable, "-c", "pass"]
COMMANDS = {
    "cli.start.help": ["--help"],
    "cli.start.evaluate": ["evaluate", "--rule", "usp", "--limit", "NLT 98.0", "--value", "97.96"],
}


def labgate() -> list[str]:
    """The command line that starts labgate: its console script beside this Python, if any."""
    script = Path(sys.executable).with_name("labgate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "labgate"]


def start(argv: list[str]) -> float:
    """Seconds from starting `argv` to its exit; a failing command stops the bench."""
    began = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def run(runs: int = RUNS) -> list[Figure]:
    """Time each command and the baseline `runs` times, interleaved, after one untimed start
    of each (which brings the files into the page cache)."""
    argvs = {"baseline": BASELINE} | {name: labgate() + args for name, args in COMMANDS.items()}
    for argv in argvs.values():
        start(argv)
    times: dict[str, list[float]] = {name: [] for name in argvs}
    for _ in range(runs):
        for name, argv in argvs.items():
            times[name].append(start(argv))
    raw = runs / sum(times["baseline"])
    return [
        Figure(
            name,
            runs / sum(times[name]),
            "starts/s",
            raw,
            p50=percentile(times[name], 0.5) * 1000,
            p99=percentile(times[name], 0.99) * 1000,
        )
        for name in COMMANDS
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
