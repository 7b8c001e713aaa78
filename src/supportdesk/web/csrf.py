"""Form tokens against cross-site request forgery (decision 0053).

Every form of the pages carries a token that only this server can compute for the browser that shows
it: a keyed hash (the secret key) of the credential the browser holds. Signed in, that is the secret of
the session cookie, so the token lives and dies with the session and needs no storage; before signing
in, it is a random value in a cookie of its own, kept only for the login form. A page cannot read
either cookie from another site, so it cannot compute the token, and both cookies are ``SameSite=Strict``
besides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# The cookie holding the value the login form's token is computed from, while nobody is signed in.
LOGIN_COOKIE = "supportdesk_login"
FIELD = "csrf_token"
# The customer portal's purposes (decision 0055): forms of a customer signed in to the portal, keyed by
# their portal session's secret, and the forms shown before that (the request form, asking for a
# sign-in link, using one), keyed by a random value in a cookie of the portal's own.
PORTAL_PURPOSE = "portal"
PORTAL_VISIT_PURPOSE = "portal-visit"


def form_token(secret_key: str, purpose: str, credential: str) -> str:
    """The token of the forms shown to whoever holds ``credential``, for ``purpose`` (``session`` or
    ``login``): a session's token never passes for a login form's, nor the other way round."""
    digest = hmac.new(
        secret_key.encode(), f"csrf\x00{purpose}\x00{credential}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_matches(secret_key: str, purpose: str, credential: str | None, submitted: object) -> bool:
    """Whether a submitted form's token is the one for ``credential``; compared in constant time."""
    if credential is None or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(form_token(secret_key, purpose, credential), submitted)


def new_login_value() -> str:
    """A fresh random value for the login cookie."""
    return secrets.token_urlsafe(32)
