"""CDN providers' purge APIs (the edge's purger for a real CDN: platform/edge's `Purger`)."""
