"""Per-resident rule settings with defaults, and the night window arithmetic they need."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from rules.conditions import Condition

DEFAULT_OUT_OF_BED_MIN = 30
# Activity elsewhere extends the out-of-bed timer, but never beyond this long after leaving the bed:
# someone up for hours in the living room at night is what a night worker would go and check.
DEFAULT_OUT_OF_BED_MAX_MIN = 60
# A timer's own extension limit (seconds), when the resident's recent nights gave it a longer one.
OUT_OF_BED_LIMIT_KEY = "out_of_bed_limit_s"
DEFAULT_LEFT_FLAT_MIN = 30
DEFAULT_INACTIVITY_MIN = 12 * 60
DEFAULT_TEMPERATURE_LOW_C = 12.0
DEFAULT_TEMPERATURE_HIGH_C = 32.0
DEFAULT_DEVICE_SILENCE_MIN = 4 * 60
# Silence is judged against how often a kind of device reports when nothing happens: motion, door,
# leak, climate and bed sensors check in about hourly (Aqara ~50 min); smoke, CO and pendants only
# every 4-6 h (Heiman, Tuya). Three missed check-ins, or two long ones, before it is a fault.
_RARELY_REPORTING = frozenset({"smoke", "co", "gas", "heat", "personal_trigger", "button", "pull_cord"})
RARE_DEVICE_SILENCE = timedelta(hours=13)
CHATTY_DEVICE_SILENCE = timedelta(hours=3)
DEFAULT_HUB_SILENCE_MIN = 2 * 60
DEFAULT_BATTERY_LOW_PERCENT = 20
BATTERY_HYSTERESIS_PERCENT = 10
# Hysteresis so a reading that hovers at the limit does not open and clear the condition every minute.
TEMPERATURE_HYSTERESIS_C = 1.0
# Getting into bed from this long before the night window opens counts as going to bed for the night.
EVENING_BEFORE_NIGHT = timedelta(hours=4)
# After the front door moves, activity inside within this settle time is the person leaving, not returning...
DOOR_SETTLE = timedelta(seconds=60)
# ...if it is where a sensor sees someone on their way out; the bed or another room seeing them means in.
BY_THE_DOOR = frozenset({"hallway", "front_door"})
# An expected absence starts when the care plan says, give or take: going out this much earlier is it too.
ABSENCE_EARLY_GRACE = timedelta(minutes=45)
_WEEKDAY_NUMBERS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


@dataclass(frozen=True, slots=True)
class ExpectedAbsence:
    """A regular time out in the care plan: local weekdays (0 = Monday) and a span of the day."""

    weekdays: frozenset[int]
    start: time
    end: time

    def covers(self, *, local: datetime) -> bool:
        """Whether a departure at this local time is this expected absence (or its start, a bit early)."""
        early = (datetime.combine(local.date(), self.start) - ABSENCE_EARLY_GRACE).time()
        clock = local.time()
        if local.weekday() not in self.weekdays:
            return False
        if early <= self.end:
            return early <= clock < self.end
        return clock >= early or clock < self.end


@dataclass(frozen=True, slots=True)
class ResidentRules:
    """Everything the rules need to know about one resident."""

    resident_id: str
    org_id: str
    timezone: ZoneInfo
    night_start: time
    night_end: time
    out_of_bed: timedelta
    out_of_bed_max: timedelta
    left_flat: timedelta
    bed_by: time
    up_by: time
    inactivity: timedelta
    temperature_low_c: float
    temperature_high_c: float
    device_silence: timedelta | None
    hub_silence: timedelta
    battery_low_percent: int
    enabled: frozenset[Condition]
    has_bed_sensor: bool
    front_door_devices: frozenset[str]
    # The settings the care team entered for this person (names of the fields above). Learnt habits
    # may fill in a setting the care plan leaves open, never relax one it sets: a limit the team chose
    # holds even when the person's recent nights run past it (that drift goes to a human review).
    care_plan: frozenset[str] = frozenset()
    # Regular times out the care plan expects ("out most weekday mornings from 08:30").
    expected_absences: tuple[ExpectedAbsence, ...] = ()

    def expected_out(self, *, moment: datetime) -> bool:
        """Whether leaving at `moment` is one of the care plan's expected absences."""
        local = self.local(moment=moment)
        return any(absence.covers(local=local) for absence in self.expected_absences)

    def local(self, *, moment: datetime) -> datetime:
        """`moment` in the resident's local time."""
        return moment.astimezone(self.timezone)

    def night_of(self, *, moment: datetime) -> date | None:
        """The date the night containing `moment` started on, or None if `moment` is daytime."""
        local = self.local(moment=moment)
        clock = local.time()
        if self.night_start <= self.night_end:
            return local.date() if self.night_start <= clock < self.night_end else None
        if clock >= self.night_start:
            return local.date()
        if clock < self.night_end:
            return local.date() - timedelta(days=1)
        return None

    def at_local(self, *, day: date, clock: time) -> datetime:
        """The instant of local `clock` on `day` (for a night, a time before night_start is the next day)."""
        return datetime.combine(day, clock, tzinfo=self.timezone)

    def night_bounds(self, *, night: date) -> tuple[datetime, datetime]:
        """Start and end instants of the night that starts on `night`."""
        start = self.at_local(day=night, clock=self.night_start)
        end_day = night if self.night_end > self.night_start else night + timedelta(days=1)
        return start, self.at_local(day=end_day, clock=self.night_end)

    def night_clock(self, *, night: date, clock: time) -> datetime:
        """The instant of `clock` in the night of `night`: from noon on, that evening; before noon, the
        next morning (an "in bed by 21:30" before a 22:00 night window is still that evening)."""
        day = night if clock >= time(12) else night + timedelta(days=1)
        return self.at_local(day=day, clock=clock)


def device_silence_for(*, device_type: str, configured: timedelta | None) -> timedelta:
    """How long a device may stay silent before it is offline: the resident's setting, or by device type."""
    if configured is not None:
        return configured
    return RARE_DEVICE_SILENCE if device_type in _RARELY_REPORTING else CHATTY_DEVICE_SILENCE


def _default_bed_by(night_start: time) -> time:
    return time((night_start.hour + 3) % 24, night_start.minute)


def _default_up_by(night_end: time) -> time:
    return time((night_end.hour + 2) % 24, night_end.minute)


_CONFIG_SQL = """
SELECT r.resident_id, r.org_id, r.timezone, r.night_start, r.night_end,
       c.out_of_bed_min, c.out_of_bed_max_min, c.left_flat_min, c.bed_by, c.up_by, c.inactivity_min,
       c.temperature_low_c, c.temperature_high_c, c.device_silence_min, c.hub_silence_min,
       c.battery_low_percent, c.enabled_rules, COALESCE(c.expected_absences, '[]'::jsonb) AS expected_absences,
       COALESCE(array_agg(d.device_id) FILTER (WHERE d.device_type = 'door' AND d.location = 'front_door'
                                               AND d.removed_at IS NULL), '{}') AS front_doors,
       bool_or(d.device_type IN ('bed_sensor', 'mat') AND d.removed_at IS NULL) AS has_bed
FROM residents r
LEFT JOIN rule_config c USING (resident_id)
LEFT JOIN hubs h ON h.resident_id = r.resident_id
LEFT JOIN devices d ON d.hub_id = h.hub_id
WHERE ($1::text[] IS NULL OR r.resident_id = ANY($1::text[]))
GROUP BY r.resident_id, c.resident_id
"""


# Setting -> the rule_config column a care team fills in for it.
_CARE_PLAN_COLUMNS = {"out_of_bed": "out_of_bed_min", "out_of_bed_max": "out_of_bed_max_min",
                      "left_flat": "left_flat_min", "bed_by": "bed_by", "up_by": "up_by"}


def _from_row(row: asyncpg.Record) -> ResidentRules:
    enabled = frozenset(Condition(name) for name in row["enabled_rules"]) if row["enabled_rules"] else frozenset(
        Condition
    )
    return ResidentRules(
        resident_id=row["resident_id"],
        org_id=row["org_id"],
        timezone=ZoneInfo(row["timezone"]),
        night_start=row["night_start"],
        night_end=row["night_end"],
        out_of_bed=timedelta(minutes=row["out_of_bed_min"] or DEFAULT_OUT_OF_BED_MIN),
        out_of_bed_max=timedelta(minutes=max(row["out_of_bed_max_min"] or DEFAULT_OUT_OF_BED_MAX_MIN,
                                             row["out_of_bed_min"] or DEFAULT_OUT_OF_BED_MIN)),
        left_flat=timedelta(minutes=row["left_flat_min"] or DEFAULT_LEFT_FLAT_MIN),
        bed_by=row["bed_by"] or _default_bed_by(row["night_start"]),
        up_by=row["up_by"] or _default_up_by(row["night_end"]),
        inactivity=timedelta(minutes=row["inactivity_min"] or DEFAULT_INACTIVITY_MIN),
        temperature_low_c=row["temperature_low_c"] if row["temperature_low_c"] is not None
        else DEFAULT_TEMPERATURE_LOW_C,
        temperature_high_c=row["temperature_high_c"] if row["temperature_high_c"] is not None
        else DEFAULT_TEMPERATURE_HIGH_C,
        device_silence=timedelta(minutes=row["device_silence_min"]) if row["device_silence_min"] else None,
        hub_silence=timedelta(minutes=row["hub_silence_min"] or DEFAULT_HUB_SILENCE_MIN),
        battery_low_percent=row["battery_low_percent"] or DEFAULT_BATTERY_LOW_PERCENT,
        enabled=enabled,
        has_bed_sensor=bool(row["has_bed"]),
        front_door_devices=frozenset(row["front_doors"]),
        care_plan=frozenset(name for name, column in _CARE_PLAN_COLUMNS.items() if row[column] is not None),
        expected_absences=_absences(row["expected_absences"]),
    )


def _absences(raw: object) -> tuple[ExpectedAbsence, ...]:
    """The care plan's expected absences as stored (validated on the way in by telecare.care_plan)."""
    items = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(items, list):
        return ()
    return tuple(ExpectedAbsence(weekdays=frozenset(_WEEKDAY_NUMBERS[day] for day in item["days"]),
                                 start=time.fromisoformat(item["start"]), end=time.fromisoformat(item["end"]))
                 for item in items)


async def load_resident_rules(
    *, connection: asyncpg.Connection, resident_ids: list[str] | None
) -> dict[str, ResidentRules]:
    """Rule settings for the given residents (all residents when None), defaults filled in."""
    rows = await connection.fetch(_CONFIG_SQL, resident_ids)
    return {row["resident_id"]: _from_row(row) for row in rows}
