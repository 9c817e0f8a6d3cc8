"""The one rule for the reason a GxP change gives (Annex 11 §9, 21 CFR 11.10(e)): real words."""

from __future__ import annotations

from labgate.domain.errors import InvalidInput

MIN_REASON = 10
MIN_LETTERS = 2  # "0", "x", "----------" or "1234567890" say nothing; "CR-2026-014" names a change


def require_reason(
    text: str | None,
    field: str = "reason",
    *,
    what: str = "This change",
    required_code: str = "input.reason_required",
) -> str:
    """The reason, trimmed; refused when empty or too short to say why (named field, codes)."""
    trimmed = (text or "").strip()
    if not trimmed:
        raise InvalidInput(
            f"{what} needs a {field}: say why it is made.", reason=required_code, field=field
        )
    letters = sum(ch.isalpha() for ch in trimmed)
    # Whitespace runs count once: ten spaces between two letters are not ten characters of text.
    if len(" ".join(trimmed.split())) < MIN_REASON or letters < MIN_LETTERS:
        shown = trimmed if len(trimmed) <= 40 else trimmed[:40] + "…"
        raise InvalidInput(
            f"The {field} {shown!r} does not say why: write at least {MIN_REASON} characters "
            "of words, not only digits or punctuation.",
            reason="input.reason_too_short",
            field=field,
        )
    return trimmed
