"""Simulated time against the wall clock: real time, any speed-up, or as fast as possible."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TimeMode:
    """`speed` simulated seconds per wall second; None means as fast as possible."""

    speed: float | None

    @property
    def fast(self) -> bool:
        """As fast as possible (messages must then carry their own timestamps)."""
        return self.speed is None

    @classmethod
    def parse(cls, *, realtime: bool = False, speed: float | None = None, fast: bool = False) -> TimeMode:
        """From the CLI flags: `--realtime`, `--speed X` or `--fast`."""
        if fast:
            return cls(None)
        if speed is not None:
            if speed <= 0:
                raise ValueError("--speed must be positive")
            return cls(speed)
        return cls(1.0)


class Pacer:
    """Says how long to wait before a message stamped `sim_time` is due on the wire."""

    def __init__(self, *, mode: TimeMode, sim_origin: float) -> None:
        self.mode = mode
        self.sim_origin = sim_origin
        self.wall_origin = time.monotonic()

    def delay(self, sim_time: float) -> float:
        """Seconds to sleep before publishing (0 when due or in fast mode)."""
        if self.mode.speed is None:
            return 0.0
        due = self.wall_origin + (sim_time - self.sim_origin) / self.mode.speed
        return max(0.0, due - time.monotonic())
