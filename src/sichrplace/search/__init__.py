"""Search: filters, German full text, geo, keyset pagination and facets over active listings."""
