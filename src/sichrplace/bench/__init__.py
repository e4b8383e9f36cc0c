"""Seeding (COPY) and load benchmarks for the local stack."""
