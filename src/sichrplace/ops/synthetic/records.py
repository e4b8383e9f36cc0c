"""What a synthetic run is made of: each step's outcome and duration, a journey's result."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    ok: bool
    seconds: float


@dataclass(frozen=True, slots=True)
class JourneyResult:
    """One journey's run: its steps in order (the failed one last), when it ran, what broke.
    `cleanup_error` is a failed cleanup: noted, but the journey itself passed or failed on
    its steps."""

    journey: str
    started_at: float  # unix time
    finished_at: float
    steps: tuple[StepResult, ...]
    error: str | None = None
    cleanup_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(s.ok for s in self.steps)

    @property
    def failed_step(self) -> str | None:
        return next((s.name for s in self.steps if not s.ok), None)

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at


@dataclass(frozen=True, slots=True)
class Stored:
    """A journey's latest result as the store keeps it, with the run counters."""

    journey: str
    ok: bool
    finished_at: float
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    failed_step: str | None = None
    error: str | None = None
    last_success_at: float | None = None
    consecutive_failures: int = 0
    runs_succeeded: int = 0
    runs_failed: int = 0
