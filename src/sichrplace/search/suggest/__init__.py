"""Completions for a search box (GET /search/suggest): cities, districts and postal codes of
the active listings, from the small `search_places` table a periodic job refreshes."""
