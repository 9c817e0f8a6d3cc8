"""Two versions of a specification side by side: which limit lines and sampling plans were
added, removed or changed, said in words (the colour only repeats them). A line is the same
line in both versions when it judges the same test in the same limit set."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]
LINE_FIELDS = ("limit", "alert", "action")
PLAN_FIELDS = ("limit_set", "tests")
WORDS = {"added": "Added", "removed": "Removed", "changed": "Changed", "same": "Unchanged"}


@dataclass(frozen=True)
class Difference:
    """One line of the comparison: its key, what happened to it, both sides, and the fields
    that differ (for a changed line)."""

    key: tuple[str, ...]
    change: str
    left: Row | None
    right: Row | None
    fields: tuple[str, ...]

    @property
    def words(self) -> str:
        """The change in words: `Changed: limit, alert`."""
        said = WORDS[self.change]
        return f"{said}: {', '.join(self.fields)}" if self.fields else said


def compare(
    left: Iterable[Row], right: Iterable[Row], key: Callable[[Row], tuple[str, ...]],
    fields: tuple[str, ...],
) -> list[Difference]:  # fmt: skip
    """Every line of either side, in the right side's order, then the lines it dropped."""
    before = {key(row): row for row in left}
    after = {key(row): row for row in right}
    found = []
    for name, row in after.items():
        old = before.get(name)
        if old is None:
            found.append(Difference(name, "added", None, row, ()))
            continue
        differs = tuple(f for f in fields if old.get(f) != row.get(f))
        found.append(Difference(name, "changed" if differs else "same", old, row, differs))
    found += [
        Difference(n, "removed", row, None, ()) for n, row in before.items() if n not in after
    ]
    return found


def limit_lines(left: Iterable[Row], right: Iterable[Row]) -> list[Difference]:
    """Limit lines keyed by (limit set, test), as a version's view lists them."""
    return compare(left, right, lambda r: (r["limit_set"], r["test_code"]), LINE_FIELDS)


def sampling_plans(left: Iterable[Row], right: Iterable[Row]) -> list[Difference]:
    """Sampling plans keyed by sampling point."""
    return compare(left, right, lambda r: (r["sampling_point"],), PLAN_FIELDS)


def counts(found: Iterable[Difference]) -> dict[str, int]:
    """How many lines were added, removed, changed (the summary above the table)."""
    tally = {"added": 0, "removed": 0, "changed": 0}
    for item in found:
        if item.change in tally:
            tally[item.change] += 1
    return tally
