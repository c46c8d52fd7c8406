"""Full-jitter exponential backoff with an overall deadline.

``delay(attempt) = uniform(0, min(cap, base * 2**attempt))`` (AWS "Exponential Backoff
And Jitter"). A server's ``Retry-After`` / ``x-retry-after`` is a floor: the wait is at
least that long. A retry that would end after the deadline is not made.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 0.5  # seconds, first backoff ceiling
    cap: float = 30.0  # seconds, largest backoff ceiling
    deadline: float = 120.0  # seconds for one logical call, all attempts included
    max_attempts: int = 10
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempt: int, floor: float = 0.0) -> float:
        """The wait before retry number ``attempt`` (0-based), at least ``floor`` seconds."""
        ceiling = min(self.cap, self.base * (2 ** min(attempt, 30)))
        return max(floor, self.rng.uniform(0.0, ceiling))


def retry_after(headers: Mapping[str, str]) -> float:
    """Seconds the server asked us to wait (``x-retry-after`` or ``Retry-After``), else 0."""
    for name in ("x-retry-after", "Retry-After"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value.strip())
        except ValueError:
            continue  # an HTTP date: rare on this API, fall back to our own backoff
        if seconds >= 0:
            return seconds
    return 0.0


class Deadline:
    """The time left for one logical call, on an injected monotonic clock."""

    def __init__(self, seconds: float, clock: Clock) -> None:
        self._clock = clock
        self._end = clock() + seconds
        self.seconds = seconds

    def remaining(self) -> float:
        return self._end - self._clock()

    def allows(self, wait: float) -> bool:
        return wait <= self.remaining()
