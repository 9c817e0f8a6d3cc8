"""The `requirement` marker: which URS requirements a test verifies, and how (its category).
The conftest hook puts them in the test's JUnit properties, where the validation pack reads
them (`labgate validation pack`)."""

from __future__ import annotations

import pytest

from labgate.service.validation.evidence import CATEGORIES
from labgate.service.validation.requirements import REQUIREMENTS

KNOWN = {requirement.id for requirement in REQUIREMENTS}


def record_requirements(item: pytest.Item) -> None:
    """Put the ids and category of the test's `requirement` markers into its user
    properties (JUnit `<property>`s); an unknown id or category stops the run at collection."""
    markers = list(item.iter_markers("requirement"))
    if not markers:
        return
    ids = sorted({name for marker in markers for name in marker.args})
    category = next((m.kwargs["category"] for m in markers if "category" in m.kwargs), "positive")
    unknown = [name for name in ids if name not in KNOWN]
    if unknown or category not in CATEGORIES or not ids:
        raise pytest.UsageError(
            f"{item.nodeid}: requirement marker with unknown id(s) {unknown} or category "
            f"{category!r}; ids are those of labgate.service.validation.requirements, "
            f"categories {', '.join(CATEGORIES)}."
        )
    item.user_properties.append(("requirements", " ".join(ids)))
    item.user_properties.append(("category", category))
