"""CSRF tokens: every console form carries one, and every POST is checked against it.

The token is an HMAC of the browser's own secret cookie (its session token, or before sign-in a
random pre-session cookie) under the server's token secret: a page on another origin can neither
read the cookie nor compute the token, and nothing extra is stored.
"""

from __future__ import annotations

import hashlib
import hmac

from labgate.domain.errors import Forbidden

FIELD = "csrf_token"
PRE_COOKIE = "labgate_console_pre"


def token_for(secret: str, cookie: str, purpose: str) -> str:
    """The CSRF token of forms shown to the holder of `cookie` (`purpose`: session or pre)."""
    message = f"labgate-console-csrf:{purpose}:{cookie}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check(secret: str, cookie: str | None, purpose: str, sent: object) -> None:
    """Raise Forbidden unless the form sent the token that belongs to the cookie."""
    if not isinstance(sent, str) or not sent:
        raise Forbidden(
            "The form came without its CSRF token; reload the page and send it again.",
            reason="console.csrf_missing",
            field=FIELD,
        )
    expected = token_for(secret, cookie, purpose) if cookie else ""
    if not cookie or not hmac.compare_digest(expected, sent):
        raise Forbidden(
            "The form's CSRF token does not belong to this browser's session; reload the page "
            "and send it again.",
            reason="console.csrf_invalid",
            field=FIELD,
        )
