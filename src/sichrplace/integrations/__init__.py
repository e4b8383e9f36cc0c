"""Clients of third-party services (all through platform/resilience)."""
