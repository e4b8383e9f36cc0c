"""The home page (search box, popular cities) and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from sichrplace.web.client import ApiProblem
from sichrplace.web.pages.base import api, page, page_router, redirect, render, safe_next, viewer
from sichrplace.web.session import cookie_names

router = page_router()

POPULAR_CITIES = 12
LANGUAGE_COOKIE_SECONDS = 365 * 86400


@router.get("/")
async def home(request: Request) -> Response:
    made = await page(request, "home")
    try:
        facets = await api(made).get("/search/facets")
    except ApiProblem:  # the search box works without the counts
        facets = {}
    cities = [
        {"name": c["label"], "count": c["count"]}
        for c in (facets.get("city") or [])[:POPULAR_CITIES]
    ]
    return render(request, made, {"cities": cities})


@router.get("/sprache")
async def switch_language(
    request: Request,
    lang: Annotated[str, Query(pattern="^(de|en)$")] = "de",
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    """The language of the pages (a cookie); a signed-in user's emails keep the account's
    language, which the account page changes."""
    seen = await viewer(request)
    seen.cookies.append((cookie_names(request).language, lang, LANGUAGE_COOKIE_SECONDS))
    return redirect(request, seen, safe_next(next))
