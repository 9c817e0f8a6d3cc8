"""Every action name the code can write to the audit trail falls in a review category (or the
explicit routine bucket): a new action left out of compliance/trail_categories.py fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from labgate.compliance.trail_categories import Category, category_of

SRC = Path(__file__).resolve().parents[2] / "src" / "labgate"
WRITERS = {
    "record",
    "audit",
    "draft",
    "AuditDraft",
}  # what writes an entry, and where its action is


def _text(node: ast.expr) -> str | None:
    """A literal action name; an f-string's placeholders stand as `x` (`quarantine.{s}`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
    return None


def emitted() -> set[str]:
    """The action names of every call that writes an audit entry, read from the source."""
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name not in WRITERS:
                continue
            given = [k.value for k in node.keywords if k.arg == "action"]
            if name == "record" and len(node.args) > 3:
                given.append(node.args[3])
            if name in ("audit", "draft") and node.args:
                given.append(node.args[0])
            found |= {text for text in map(_text, given) if text and "." in text}
    return found


def test_the_scan_finds_the_actions_the_code_writes() -> None:
    names = emitted()
    assert {"result.approved", "quarantine.x", "refused.x", "source_key.revoked",
            "account.locked", "outbox.retry"} <= names  # fmt: skip
    assert len(names) > 50


@pytest.mark.requirement("URS-A11-11", category="negative")
def test_every_action_the_code_writes_has_a_category() -> None:
    left_out = sorted(n for n in emitted() if category_of(n) is Category.UNCATEGORISED)
    assert left_out == [], f"add these to compliance/trail_categories.py: {left_out}"


def test_a_refusal_for_wrong_credentials_is_a_failed_sign_in() -> None:
    assert category_of("refused.sign_in", "auth.bad_credentials") is Category.FAILED_SIGN_IN
    assert category_of("refused.approve_result", "auth.locked") is Category.FAILED_SIGN_IN
    assert category_of("refused.approve_result", "signature.bad_credentials") is Category.REFUSAL
    assert category_of("something.new") is Category.UNCATEGORISED
