"""Seeding tests run with the listings fixtures (a landlord to own the rows)."""

from tests.listings.conftest import make_user

__all__ = ["make_user"]
