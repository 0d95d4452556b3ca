"""Night windows in the resident's local time zone: the instants a night starts and ends, DST-safe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class NightWindow:
    """One resident's night: the evening's local date and the real instants it spans."""

    night_of: date
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        """Real length in hours (a DST night is an hour shorter or longer)."""
        return (self.end - self.start).total_seconds() / 3600


def local_instant(*, day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time; a time skipped by DST moves forward past the gap."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz)
    # A wall time inside the spring-forward gap does not exist; the round trip through UTC shows it
    # and the later offset (fold=1) puts it just after the gap, as a clock would.
    back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != naive:
        aware = naive.replace(tzinfo=tz, fold=1)
    return aware.astimezone(UTC)


def night_window(*, night_of: date, start: time, end: time, tz: ZoneInfo) -> NightWindow:
    """The night that begins on the evening of `night_of` (the end is next morning when end <= start)."""
    end_day = night_of + timedelta(days=1) if end <= start else night_of
    return NightWindow(
        night_of=night_of,
        start=local_instant(day=night_of, at=start, tz=tz),
        end=local_instant(day=end_day, at=end, tz=tz),
    )


def nights_between(*, first: date, last: date) -> list[date]:
    """Every night_of from `first` to `last` inclusive."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def search_span(*, window: NightWindow, lead_hours: float, tail_hours: float) -> tuple[datetime, datetime]:
    """Where to look for the sleep period of this night (wider than the window, never a whole day)."""
    return window.start - timedelta(hours=lead_hours), window.end + timedelta(hours=tail_hours)
