"""Reading one night from its events: sleep period, bed exits, bathroom visits and door exits.

Pure functions over a night's events, so the same logic serves the stored summaries, the tests and
the accuracy benchmarks. Two methods: a bed pressure pad gives time in bed directly; without one,
rest is inferred from bedroom motion followed by a long quiet spell (no PIR sees a sleeper).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.config import NightRules

BED_KINDS = frozenset({"bed_occupied", "bed_vacated"})
# Activations: something a person did. Technical reports and measurements are not activity.
ACTIVITY_KINDS = frozenset(
    {"motion", "presence", "door_open", "door_closed", "vibration", "appliance_on", "appliance_off",
     "chair_occupied", "chair_vacated", "button", "personal_trigger", "fall"}
)


@dataclass(frozen=True, slots=True)
class NightEvent:
    """One stored event, as the night reading needs it."""

    time: datetime
    kind: str
    location: str
    device_type: str
    device_id: str
    is_restore: bool = False


@dataclass(frozen=True, slots=True)
class Interval:
    """A span of time (in bed, out of bed, out of the flat)."""

    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        """Length in minutes."""
        return (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True, slots=True)
class SleepReading:
    """What the sensors say about one night's sleep and movement."""

    method: str
    sleep_onset: datetime | None
    wake: datetime | None
    in_bed: tuple[Interval, ...]
    exits: tuple[Interval, ...]
    bathroom_visits: int
    door_exits: tuple[Interval, ...]

    @property
    def time_in_bed_min(self) -> float | None:
        """Minutes in bed between onset and wake."""
        return round(sum(item.minutes for item in self.in_bed), 1) if self.sleep_onset else None

    @property
    def minutes_out_of_bed(self) -> float | None:
        """Minutes out of bed between onset and wake."""
        return round(sum(item.minutes for item in self.exits), 1) if self.sleep_onset else None

    @property
    def minutes_out(self) -> float:
        """Minutes out of the flat during the night."""
        return round(sum(item.minutes for item in self.door_exits), 1)


def bed_intervals(*, events: list[NightEvent], span: Interval, rules: NightRules) -> list[Interval]:
    """Occupied spans of the bed pad within the span; flicker shorter than `min_exit_s` is joined up."""
    raw: list[Interval] = []
    since: datetime | None = None
    first_seen = True
    for event in events:
        if event.kind == "bed_occupied":
            if since is None:
                since = event.time
        elif event.kind == "bed_vacated":
            if since is None and first_seen:
                # Vacated first: the resident was already in bed when the search began.
                since = span.start
            if since is not None and event.time > since:
                raw.append(Interval(since, event.time))
            since = None
        else:
            continue
        first_seen = False
    if since is not None:
        raw.append(Interval(since, span.end))
    joined: list[Interval] = []
    for interval in raw:
        if joined and (interval.start - joined[-1].end).total_seconds() < rules.min_exit_s:
            joined[-1] = Interval(joined[-1].start, interval.end)
        else:
            joined.append(interval)
    return joined


def rest_intervals_from_pir(*, events: list[NightEvent], span: Interval, rules: NightRules) -> list[Interval]:
    """Rest inferred without a pad: quiet of at least `pir_settle_s` that follows bedroom activity."""
    activity = [event for event in events if event.kind in ACTIVITY_KINDS and not event.is_restore]
    rests: list[Interval] = []
    for before, after in zip(activity, [*activity[1:], None], strict=True):
        end = after.time if after is not None else span.end
        if before.location != "bedroom":
            continue
        if (end - before.time).total_seconds() >= rules.pir_settle_s:
            rests.append(Interval(before.time, end))
    return rests


def sleep_period(*, intervals: list[Interval], window: Interval, rules: NightRules) -> list[Interval]:
    """The in-bed intervals that make up this night: from the first settled one touching the window
    to the last one touching it, with every interval in between. A night broken inside the window
    (a long time up, a walk outside) goes on when the resident is back in bed within `rejoin_hours`,
    even if that is after the window has ended."""
    settled = [item for item in intervals if (item.end - item.start).total_seconds() >= rules.min_bed_stay_s]
    touching = [item for item in settled if item.end > window.start and item.start < window.end]
    if not touching:
        return []
    last = touching[-1]
    for later in settled[settled.index(last) + 1:]:
        away = (later.start - last.end).total_seconds()
        # Up inside the window: back to bed within hours still counts. Up after the window: only a
        # short time up (a bathroom visit before dozing off again) is part of the night.
        limit = rules.rejoin_hours * 3600 if last.end < window.end else rules.short_exit_min * 60
        if away > limit:
            break
        last = later
    onset, wake = touching[0].start, last.end
    return [item for item in intervals if item.start >= onset and item.end <= wake]


def gaps(intervals: list[Interval]) -> list[Interval]:
    """The spans between consecutive intervals."""
    return [Interval(a.end, b.start) for a, b in itertools.pairwise(intervals)]


def door_exits(*, events: list[NightEvent], window: Interval, span: Interval, rules: NightRules) -> list[Interval]:
    """Times the resident left the flat with the door opening inside the night window.

    Leaving = the front door opens and no sensor inside sees anyone until the door opens again; a door
    opened and closed with movement inside afterwards was someone looking out or a visitor.
    """
    opens = [event.time for event in events
             if event.kind == "door_open" and event.location == "front_door" and not event.is_restore]
    inside = [event.time for event in events
              if event.kind in ACTIVITY_KINDS and event.location not in ("front_door", "other")
              and not event.is_restore and event.kind not in ("door_open", "door_closed")]
    bed = [event.time for event in events if event.kind in BED_KINDS]
    found: list[Interval] = []
    for index, opened in enumerate(opens):
        if not window.start <= opened < window.end:
            continue
        if found and opened < found[-1].end:
            continue
        back = opens[index + 1] if index + 1 < len(opens) else span.end
        settle = opened + timedelta(seconds=rules.door_settle_s)
        if any(settle < moment < back for moment in inside) or any(opened < moment < back for moment in bed):
            continue
        if (back - opened).total_seconds() >= rules.min_door_exit_s:
            found.append(Interval(opened, back))
    return found


def bathroom_visits(*, events: list[NightEvent], exits: list[Interval]) -> int:
    """Exits from bed during which a bathroom sensor saw activity."""
    moments = [event.time for event in events
               if event.location == "bathroom" and event.kind in ACTIVITY_KINDS and not event.is_restore]
    return sum(1 for gap in exits if any(gap.start <= moment <= gap.end for moment in moments))


def read_sleep(*, events: list[NightEvent], window: Interval, span: Interval, method: str,
               rules: NightRules) -> SleepReading:
    """Everything about one night's sleep from its events (`method` 'bed_sensor' or 'pir')."""
    if method == "bed_sensor":
        intervals = bed_intervals(events=[e for e in events if e.kind in BED_KINDS], span=span, rules=rules)
    else:
        intervals = rest_intervals_from_pir(events=events, span=span, rules=rules)
    period = sleep_period(intervals=intervals, window=window, rules=rules)
    exits = [gap for gap in gaps(period) if gap.minutes * 60 >= rules.min_exit_s]
    return SleepReading(
        method=method,
        sleep_onset=period[0].start if period else None,
        wake=period[-1].end if period else None,
        in_bed=tuple(period),
        exits=tuple(exits),
        bathroom_visits=bathroom_visits(events=events, exits=exits),
        door_exits=tuple(door_exits(events=events, window=window, span=span, rules=rules)),
    )
