from tests.platform.jobs import tasks_for_tests  # noqa: F401  (registers the test tasks)
from tests.platform.jobs.fixtures import job_queue, procs, shared_sink, shared_worker

__all__ = ["job_queue", "procs", "shared_sink", "shared_worker"]
