"""CSRF protection of every form: a signed double-submit token.

Each browser gets a random `sp_csrf` cookie (httpOnly, `__Host-`); each form carries
HMAC(secret, cookie) in a hidden field `csrf_token` (htmx sends it as `X-CSRF-Token`). A
cross-site page can make the browser send the cookie but can neither read it nor compute
the token, and a subdomain cannot plant a cookie of its own (the `__Host-` prefix). A post
without a valid token is refused with 403 before anything runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.datastructures import FormData
from starlette.requests import Request

from sichrplace.kit.errors import Forbidden
from sichrplace.kit.i18n import N_
from sichrplace.platform.http.dependencies import parts_of
from sichrplace.web.session import Viewer, cookie_names

FIELD = "csrf_token"
HEADER = "x-csrf-token"
COOKIE_SECONDS = 365 * 86400


def _sign(request: Request, value: str) -> str:
    key = parts_of(request).settings.web.csrf_secret.get_secret_value().encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def token_for(request: Request, viewer: Viewer) -> str:
    """The token this page's forms carry; makes the browser's cookie on its first visit."""
    name = cookie_names(request).csrf
    value = request.cookies.get(name)
    if not value:
        value = secrets.token_urlsafe(32)
        viewer.cookies.append((name, value, COOKIE_SECONDS))
        request.cookies[name] = value  # later calls of this request sign the same value
    return _sign(request, value)


class CsrfRejected(Forbidden):
    pass


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token is proven (403 otherwise)."""
    form = await request.form()
    value = request.cookies.get(cookie_names(request).csrf)
    sent = form.get(FIELD) or request.headers.get(HEADER) or ""
    if (
        not value
        or not isinstance(sent, str)
        or not hmac.compare_digest(_sign(request, value), sent)
    ):
        raise CsrfRejected(
            N_("This form has expired or came from another site: reload the page and try again."),
            slug="csrf-failed",
        )
    return form
