"""The language of a response's texts: the signed-in caller's stored language, else the
request's Accept-Language (German when it names neither German nor English).

Authentication records the caller's language on the request (`set_caller_language`; the
session check reads it in the same Redis round trip, accounts/sessions.py). Nothing is parsed
up front: `request_language` runs only when a text is rendered (a problem, a page), so the
anonymous hot paths pay nothing for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import HTTPConnection

from sichrplace.kit.i18n import LANGUAGES, Language, negotiate

_STATE_KEY = "language"


def set_caller_language(connection: HTTPConnection, language: str) -> None:
    if language in LANGUAGES:
        connection.state.language = language


def scope_language(scope: Mapping[str, Any]) -> Language:
    """The language for a response to this ASGI scope (see the module)."""
    state = scope.get("state")
    chosen = state.get(_STATE_KEY) if isinstance(state, Mapping) else None
    if chosen == "en" or chosen == "de":
        return "en" if chosen == "en" else "de"
    for name, value in scope.get("headers", ()):
        if name == b"accept-language":
            return negotiate(value.decode("latin-1"))
    return negotiate(None)


def request_language(connection: HTTPConnection) -> Language:
    return scope_language(connection.scope)
