"""FastAPI access to the process-wide geocoder (created in the app lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sichrplace.integrations.maps.types import Geocoder


async def get_geocoder(request: Request) -> Geocoder:
    geocoder: Geocoder = request.app.state.geocoder
    return geocoder


GeocoderDep = Annotated[Geocoder, Depends(get_geocoder)]
