"""Replay of recorded real homes: Ordonez-style interval logs and CASAS-style event logs.

Each recorded sensor becomes the device its mapping names, speaking the same Zigbee2MQTT (or
canonical) messages a real one would; the recorded activity labels become the same truth records the
simulator writes, where the labels say enough.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from simulators.canonical import CanonicalHub
from simulators.emulator import HubEmulator
from simulators.mapping import Mapping
from simulators.sitefile import SiteResidentSpec, site_document
from simulators.stimuli import Action, Stimulus, WireMessage
from simulators.truth import SCHEMA, night_window_bounds, stamp
from simulators.z2m import Z2mHub, Z2mOptions

_STATES_ON = {"ON", "OPEN", "PRESENT", "TRUE", "1"}
_STATES_OFF = {"OFF", "CLOSE", "CLOSED", "ABSENT", "FALSE", "0"}
_SPLIT = re.compile(r"\t+|\s{2,}")


@dataclass(frozen=True, slots=True)
class Reading:
    """A recorded sensor: on (True), off (False) or a measured value, at a local time."""

    at: datetime
    sensor: str
    value: bool | float


@dataclass(frozen=True, slots=True)
class Interval:
    """A recorded interval (sensor activity or an activity label)."""

    start: datetime
    end: datetime
    name: str


@dataclass
class ParseReport:
    """What a parser could not use, so the caller can say what it skipped."""

    skipped: list[dict[str, Any]] = field(default_factory=list)

    def skip(self, *, line: int, text: str, reason: str) -> None:
        """Record one unusable line."""
        self.skipped.append({"line": line, "text": text.strip()[:200], "reason": reason})


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def read_intervals(*, path: Path, report: ParseReport) -> list[Interval]:
    """Ordonez-style `start  end  name  [type  place]` rows (tabs or runs of spaces between columns)."""
    intervals: list[Interval] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        parts = [part for part in _SPLIT.split(raw.strip()) if part]
        if len(parts) < 3 or not parts[0][:1].isdigit():
            if raw.strip() and not raw.startswith(("Start", "---")):
                report.skip(line=number, text=raw, reason="not a start/end/name row")
            continue
        try:
            start, end = _parse_time(parts[0]), _parse_time(parts[1])
        except ValueError:
            report.skip(line=number, text=raw, reason="unreadable time")
            continue
        if end < start:
            report.skip(line=number, text=raw, reason="end before start")
            continue
        intervals.append(Interval(start, end, sensor_key(parts[2:5])))
    return intervals


def sensor_key(columns: list[str]) -> str:
    """A recorded sensor's id: its name, with its type and place when the log gives them
    ("Door/PIR/Bedroom"), so two sensors that share a name in different places stay two devices."""
    return "/".join(column.strip() for column in columns if column.strip())


def read_casas(*, path: Path, report: ParseReport) -> tuple[list[Reading], list[Interval]]:
    """CASAS-style `date time sensor [sensor] state [label]` lines: readings, and labels as intervals.

    Labels may be `Name begin` / `Name end` pairs or one activity name on every line of it.
    """
    readings: list[Reading] = []
    labels: list[Interval] = []
    open_labels: dict[str, datetime] = {}
    running: tuple[str, datetime, datetime] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        tokens = raw.split()
        if len(tokens) < 4:
            if raw.strip():
                report.skip(line=number, text=raw, reason="too few fields")
            continue
        try:
            at = _parse_time(f"{tokens[0]} {tokens[1]}")
        except ValueError:
            report.skip(line=number, text=raw, reason="unreadable time")
            continue
        sensor = tokens[2]
        state_index = 3
        if _state(tokens[3]) is None and len(tokens) > 4 and _state(tokens[4]) is not None:
            state_index = 4  # `sensor sensor state`: the second column is an alias of the first
        value = _state(tokens[state_index])
        if value is None:
            report.skip(line=number, text=raw, reason=f"unknown state {tokens[state_index]!r}")
            continue
        readings.append(Reading(at, sensor, value))
        rest = tokens[state_index + 1 :]
        if len(rest) >= 2 and rest[-1].lower() in {"begin", "end"}:
            name = "_".join(rest[:-1])
            if rest[-1].lower() == "begin":
                open_labels[name] = at
            elif name in open_labels:
                labels.append(Interval(open_labels.pop(name), at, name))
            else:
                report.skip(line=number, text=raw, reason=f"label end without begin: {name}")
        elif len(rest) == 1:
            if running is not None and running[0] == rest[0]:
                running = (running[0], running[1], at)
            else:
                if running is not None:
                    labels.append(Interval(running[1], running[2], running[0]))
                running = (rest[0], at, at)
    if running is not None:
        labels.append(Interval(running[1], running[2], running[0]))
    for name, start in open_labels.items():
        report.skip(line=0, text=f"{name} begin {start.isoformat()}", reason="label begin without end")
    return readings, labels


def _state(token: str) -> bool | float | None:
    upper = token.upper()
    if upper in _STATES_ON:
        return True
    if upper in _STATES_OFF:
        return False
    try:
        return float(token)
    except ValueError:
        return None


def intervals_to_readings(intervals: list[Interval]) -> list[Reading]:
    """An interval log as readings: on at the start, off at the end."""
    readings: list[Reading] = []
    for interval in intervals:
        readings.append(Reading(interval.start, interval.name, True))
        readings.append(Reading(interval.end, interval.name, False))
    return readings


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """A recorded home ready to replay: time shift, stimuli, truth records and counts."""

    stimuli: tuple[Stimulus, ...]
    truth: tuple[dict[str, Any], ...]
    first: float
    last: float
    unknown_sensors: dict[str, int]


def readings_to_stimuli(
    *, readings: list[Reading], mapping: Mapping, tz: ZoneInfo, shift: timedelta, unknown: dict[str, int]
) -> list[Stimulus]:
    """What each mapped device senses, in time order."""
    out: list[Stimulus] = []
    motion_on: dict[str, float] = {}
    for reading in sorted(readings, key=lambda item: item.at):
        sensor = mapping.sensor_for(reading.sensor)
        if sensor is None:
            unknown[reading.sensor] = unknown.get(reading.sensor, 0) + 1
            continue
        at = (reading.at + shift).replace(tzinfo=tz).timestamp()
        name, value = sensor.friendly_name, reading.value
        if sensor.behaviour == "motion":
            if value is True:
                motion_on[name] = at
                out.append(Stimulus(at, name, Action.DETECT, (("occupancy", True), ("illuminance", 50))))
            elif value is False and name in motion_on:
                # Someone stayed in view: the PIR re-triggers about once a minute until the interval ends.
                repeat = motion_on.pop(name) + mapping.motion_repeat_s
                while repeat < at:
                    out.append(
                        Stimulus(repeat, name, Action.DETECT, (("occupancy", True), ("illuminance", 50)))
                    )
                    repeat += mapping.motion_repeat_s
        elif sensor.behaviour == "pressure" and isinstance(value, bool):
            out.append(Stimulus(at, name, Action.SET, (("pressure", value),)))
        elif sensor.behaviour == "contact" and isinstance(value, bool):
            # A magnetic sensor active means the door is open: Z2M's contact is true when closed.
            out.append(Stimulus(at, name, Action.SET, (("contact", not value),)))
        elif sensor.behaviour == "power" and isinstance(value, bool):
            out.append(Stimulus(at, name, Action.SET, (("power", sensor.watts if value else 0),)))
        elif sensor.behaviour == "vibration" and value is True:
            out.append(Stimulus(at, name, Action.DETECT, (("action", "vibration"), ("vibration", True))))
        elif sensor.behaviour == "temperature" and not isinstance(value, bool):
            out.append(Stimulus(at, name, Action.SET, (("temperature", round(value, 2)),)))
    out.sort(key=lambda stimulus: stimulus.time)
    return out


def labels_to_truth(
    *,
    labels: list[Interval],
    mapping: Mapping,
    tz: ZoneInfo,
    shift: timedelta,
) -> list[dict[str, Any]]:
    """Night and day truth records from recorded activity labels (sleep, toilet, away)."""
    rules = mapping.labels
    resident = mapping.home.resident_id
    window = (mapping.home.night_start, mapping.home.night_end)

    def epoch(moment: datetime) -> float:
        return (moment + shift).replace(tzinfo=tz).timestamp()

    sleeps = sorted((epoch(i.start), epoch(i.end)) for i in labels if i.name in rules.sleep)
    toilets = sorted((epoch(i.start), epoch(i.end)) for i in labels if i.name in rules.toilet)
    aways = sorted((epoch(i.start), epoch(i.end)) for i in labels if i.name in rules.away)
    nights: list[list[tuple[float, float]]] = []
    for start, end in sleeps:
        if nights and start - nights[-1][-1][1] < rules.same_night_gap_min * 60:
            nights[-1].append((start, end))
        else:
            nights.append([(start, end)])
    records: list[dict[str, Any]] = []
    for periods in nights:
        exits: list[dict[str, Any]] = []
        onset, wake = periods[0][0], periods[-1][1]
        night_of = (datetime.fromtimestamp(onset, tz) - timedelta(hours=12)).date()
        gaps = [(a[1], b[0]) for a, b in itertools.pairwise(periods)]
        # A toilet visit labelled inside a sleep label is also a time out of bed.
        gaps += [(s, e) for s, e in toilets if any(ps <= s and e <= pe for ps, pe in periods)]
        gaps.sort()
        for start, end in gaps:
            to_toilet = any(start <= s < end or s <= start < e for s, e in toilets)
            exits.append(
                {
                    "start": stamp(start, tz),
                    "end": stamp(end, tz),
                    "minutes": round((end - start) / 60, 1),
                    "to": "bathroom" if to_toilet else "unknown",
                }
            )
        low, high = night_window_bounds(tz=tz, night_of=night_of, window=window)
        records.append(
            {
                "record": "night",
                "resident_id": resident,
                "night_of": night_of.isoformat(),
                "sleep_onset": stamp(onset, tz),
                "wake": stamp(wake, tz),
                "in_bed_minutes": round(sum(e - s for s, e in periods) / 60, 1),
                "bed_exits": exits,
                "bed_exit_count": len(exits),
                "minutes_out_of_bed": round(sum(float(item["minutes"]) for item in exits), 1),
                "bathroom_visits": sum(1 for s, _ in toilets if onset <= s <= wake),
                "door_exits": [
                    {"out": stamp(s, tz), "back": stamp(e, tz), "minutes": round((e - s) / 60, 1)}
                    for s, e in aways
                    if low <= s < high
                ],
            }
        )
    days: dict[date, list[tuple[float, float]]] = {}
    for start, end in aways:
        days.setdefault(datetime.fromtimestamp(start, tz).date(), []).append((start, end))
    for day, outings in sorted(days.items()):
        records.append(
            {
                "record": "day",
                "resident_id": resident,
                "date": day.isoformat(),
                "door_exits": [
                    {"out": stamp(s, tz), "back": stamp(e, tz), "minutes": round((e - s) / 60, 1)}
                    for s, e in outings
                ],
            }
        )
    return records


def whole_weeks_before(*, last: datetime, tz: ZoneInfo, now: float) -> timedelta:
    """The shift, in whole weeks (so weekdays stay weekdays), that puts `last` just before `now`."""
    last_epoch = last.replace(tzinfo=tz).timestamp()
    weeks = int((now - last_epoch) // (7 * 86400))
    return timedelta(weeks=max(0, weeks))


def plan_replay(
    *,
    fmt: str,
    sensors: Path,
    labels: Path | None,
    mapping: Mapping,
    shift: timedelta | None,
    now: float,
    source: str,
) -> tuple[ReplayPlan, dict[str, Any]]:
    """Read the logs, build stimuli and truth; `shift=None` moves the recording to just before `now`."""
    tz = ZoneInfo(mapping.home.timezone)
    report = ParseReport()
    label_report = ParseReport()
    label_intervals: list[Interval] = []
    if fmt == "ordonez":
        readings = intervals_to_readings(read_intervals(path=sensors, report=report))
        if labels is not None:
            label_intervals = read_intervals(path=labels, report=label_report)
    else:
        readings, label_intervals = read_casas(path=sensors, report=report)
        if labels is not None:
            _, label_intervals = read_casas(path=labels, report=label_report)
    if not readings:
        raise ValueError(f"{sensors}: no readings")
    mapping.check_recorded(sensor_ids={reading.sensor for reading in readings})
    last = max(reading.at for reading in readings)
    chosen = shift if shift is not None else whole_weeks_before(last=last, tz=tz, now=now)
    unknown: dict[str, int] = {}
    stimuli = readings_to_stimuli(readings=readings, mapping=mapping, tz=tz, shift=chosen, unknown=unknown)
    if unknown and not mapping.ignore_unknown_sensors:
        raise ValueError(f"sensors missing from the mapping: {sorted(unknown)}")
    header = {
        "record": "resident",
        "schema": SCHEMA,
        "resident_id": mapping.home.resident_id,
        "hub_id": mapping.home.hub_id,
        "org_id": mapping.home.organisation_id,
        "source": source,
        "timezone": mapping.home.timezone,
        "night_window": {
            "start": mapping.home.night_start.strftime("%H:%M"),
            "end": mapping.home.night_end.strftime("%H:%M"),
        },
        "shift_days": chosen.days,
        "cohort": "recorded",
        "period": {"start": stamp(stimuli[0].time, tz), "end": stamp(stimuli[-1].time, tz)},
        "labels_skipped": label_report.skipped,
        "sensor_lines_skipped": report.skipped,
        "unknown_sensors": unknown,
    }
    truth = [header, *labels_to_truth(labels=label_intervals, mapping=mapping, tz=tz, shift=chosen)]
    plan = ReplayPlan(
        stimuli=tuple(stimuli),
        truth=tuple(truth),
        first=stimuli[0].time,
        last=stimuli[-1].time,
        unknown_sensors=unknown,
    )
    summary = {
        "readings": len(readings),
        "stimuli": len(stimuli),
        "labels": len(label_intervals),
        "labels_skipped": label_report.skipped,
        "sensor_lines_skipped": len(report.skipped),
        "shift_days": chosen.days,
        "unknown_sensors": unknown,
    }
    return plan, summary


def replay_messages(
    *, plan: ReplayPlan, mapping: Mapping, protocol: str, options: Z2mOptions, hub_id: str | None = None
) -> Iterator[WireMessage]:
    """The replayed hub's messages in time order (the bridge starts a minute before the first reading)."""
    layout = mapping.layout(hub_id=hub_id)
    start = plan.first - 60
    emulator: HubEmulator
    if protocol == "canonical":
        emulator = CanonicalHub(
            layout=layout, live_from=start, seed="replay", clear_after_s=mapping.clear_after_s
        )
    else:
        emulator = Z2mHub(
            layout=layout,
            live_from=start,
            seed="replay",
            options=options,
            clear_after_s=mapping.clear_after_s,
        )
    yield from emulator.advance(until=start)
    for stimulus in plan.stimuli:
        yield from emulator.feed(stimulus)
    yield from emulator.advance(until=plan.last + mapping.clear_after_s + 1)


def replay_site(
    *, mapping: Mapping, protocol: str, hub_id: str | None = None, resident_id: str | None = None
) -> dict[str, Any]:
    """The site file for the replayed home."""
    home = mapping.home
    spec = SiteResidentSpec(
        resident_id=resident_id or home.resident_id,
        name=home.resident_name,
        flat=home.hub_id,
        home=mapping.layout(hub_id=hub_id),
        night_window=(home.night_start, home.night_end),
        protocol="canonical" if protocol == "canonical" else "z2m",
    )
    return site_document(
        org_id=home.organisation_id, org_name=home.organisation_name, timezone=home.timezone, residents=[spec]
    )
