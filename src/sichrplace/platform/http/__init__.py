"""The HTTP edge of the platform: problem responses, middleware, request dependencies."""
