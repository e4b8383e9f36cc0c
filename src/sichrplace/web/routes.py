"""Every router of the web pages, mounted at the site's root by create_app()."""

from __future__ import annotations

from fastapi import APIRouter


def web_routers() -> list[APIRouter]:
    from sichrplace.web.pages import (
        account,
        accounts,
        contracts,
        home,
        landlord_journey,
        landlord_listings,
        listing,
        messages,
        search,
        seo,
        viewings,
    )

    return [
        home.router,
        accounts.router,
        account.router,
        landlord_listings.router,
        landlord_journey.router,
        viewings.router,
        messages.router,
        contracts.router,
        search.router,
        listing.router,
        seo.router,
    ]
