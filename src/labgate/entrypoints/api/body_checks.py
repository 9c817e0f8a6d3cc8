"""Bodies the parsers must never see: a charset other than UTF-8, bytes that are not UTF-8, JSON
nested deeper than configured, or text no database stores: JSON escaping half a surrogate pair,
or a NUL character in JSON or a form (PostgreSQL refuses it in any text). Each is refused by rule
and reason code, before anything parses the body."""

from __future__ import annotations

import re

from labgate.domain.errors import InvalidInput

_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_PAIR = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_CHECKED = ("application/json", "application/x-www-form-urlencoded")


class MalformedBody(InvalidInput):
    """A body refused before parsing: wrong charset, not UTF-8, or JSON nested too deep."""

    default_reason = "request.malformed"


def check_body(content_type: str, body: bytes, max_depth: int) -> None:
    """Raise MalformedBody if a JSON or form body breaks one of the rules above."""
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type not in _CHECKED and not media_type.endswith("+json"):
        return
    charset = _charset(params)
    if charset not in (None, "utf-8", "utf8"):
        raise MalformedBody(
            f"The body's charset is {charset}; labgate reads JSON and forms as UTF-8 only.",
            reason="request.bad_charset",
            field="body",
        )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedBody(
            f"The body is not valid UTF-8 (byte {error.start} cannot start or continue a "
            "character).",
            reason="request.not_utf8",
            field="body",
        ) from None
    if media_type != "application/x-www-form-urlencoded":
        _check_json(body, max_depth)
    elif b"%00" in body or b"\x00" in body:
        raise _nul()


def _charset(params: str) -> str | None:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _check_json(body: bytes, max_depth: int) -> None:
    depth = 0
    for match in _TOKENS.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                raise MalformedBody(
                    f"The JSON body is nested deeper than the {max_depth} levels accepted "
                    "(LABGATE_MAX_JSON_DEPTH).",
                    reason="request.too_deep",
                    field="body",
                )
        elif token in (b"]", b"}"):
            depth -= 1
        elif b"\\u" in token and _lone_surrogate(token):
            raise MalformedBody(
                "The JSON body escapes half of a UTF-16 surrogate pair (\\uD800-\\uDFFF alone), "
                "which is not text.",
                reason="request.lone_surrogate",
                field="body",
            )
        elif b"\\u" in token and b"\\u0000" in token.replace(b"\\\\", b""):
            raise _nul()


def _nul() -> MalformedBody:
    return MalformedBody(
        "The body holds a NUL character (U+0000), which no record's text can hold.",
        reason="request.nul_character",
        field="body",
    )


def _lone_surrogate(string: bytes) -> bool:
    # Escaped backslashes first, so that "\\ud800" (a backslash, then text) is not taken for one.
    plain = string.replace(b"\\\\", b"")
    return len(_SURROGATE.findall(plain)) != 2 * len(_PAIR.findall(plain))
