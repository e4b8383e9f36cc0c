"""The parts a job handler uses: one `Parts` per worker process, opened by the worker command.

    async with transaction(job_parts().db) as session: ...
    geocoder = job_parts().get(LISTINGS).geocoder

The composition root (`sichrplace/composition.py`, `worker_parts`) builds them; the worker
installs them before it takes the first job (`platform/jobs/worker.py`). A test that calls a
handler directly installs them itself (`use_job_parts`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sichrplace.platform.parts import Parts


class _Installed:
    parts: Parts | None = None


def job_parts() -> Parts:
    parts = _Installed.parts
    if parts is None:
        raise RuntimeError("no worker parts installed (run jobs through the worker command)")
    return parts


@contextmanager
def use_job_parts(parts: Parts) -> Iterator[Parts]:
    """Make `parts` what handlers in this process use, for the duration of the block."""
    previous, _Installed.parts = _Installed.parts, parts
    try:
        yield parts
    finally:
        _Installed.parts = previous
