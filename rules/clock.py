"""The engine's clock: wall time when live, event time when replaying; injectable in tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where "now" comes from for timers, escalation and the silence watchdog."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


@dataclass(frozen=True, slots=True)
class WallClock:
    """Real time, held back by `lag` so events still in flight through ingest can cancel a timer."""

    lag: timedelta = timedelta(seconds=0)

    def now(self) -> datetime:
        """Wall-clock time minus the lag."""
        return datetime.now(UTC) - self.lag


@dataclass(slots=True)
class ManualClock:
    """A clock moved by hand (tests) or by the replay as it walks through event time."""

    current: datetime = field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        """The time last set."""
        return self.current

    def advance_to(self, *, moment: datetime) -> None:
        """Move forward to `moment`; time never goes backwards."""
        self.current = max(self.current, moment)
