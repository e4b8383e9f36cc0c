"""Synthetic journeys (issue 20): dedicated synthetic accounts walk the platform's main
journeys through its public entry point every few minutes, and each step's result and
duration become Prometheus metrics (exported by the job workers) with alerts on them.

    settings.py   SICHRPLACE_SYNTHETIC_* (schedule, base URL, waits)
    records.py    what a run is: steps, results (frozen dataclasses)
    rules.py      pure: the step names, a result's Redis fields and metric samples
    repository.py the cast's SQL (accounts, sessions, the landlord's listing)
    accounts.py   the cast: made once, idempotently; fresh tokens per run
    journeys.py   search, payment, contract over HTTP (httpx), each cleaning up after itself
    store.py      results in Redis (the latest per journey, run counters)
    metrics.py    the worker's collector: reads the store when Prometheus scrapes
    service.py    run journeys and record them (the job and the CLI)
    tasks.py      the periodic job
"""
