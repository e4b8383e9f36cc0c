"""Every router of the web pages, mounted at the site's root by create_app()."""

from __future__ import annotations

from fastapi import APIRouter


def web_routers() -> list[APIRouter]:
    from sichrplace.web.pages import accounts, home

    return [home.router, accounts.router]
