"""Incidents (alarms a person or the home raises) and device faults, each with its truth record."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from simulators import layout as names
from simulators.layout import HomeLayout
from simulators.profile import poisson
from simulators.routine import DayPlan, NightIncidents, Place, Stay, apply_fall
from simulators.stimuli import HUB_DEVICE, Action, Stimulus
from simulators.truth import stamp

NIGHT_INCIDENTS = ("out_of_bed_too_long", "left_flat_at_night", "did_not_get_up")
DEVICE_INCIDENTS = ("pendant_press", "fall", "smoke", "smoke_test", "flood", "cold_flat")
INCIDENT_KINDS = NIGHT_INCIDENTS + DEVICE_INCIDENTS
FAULT_KINDS = ("battery_decline", "device_offline", "hub_offline", "tamper")
# Z2M marks a battery device offline after 25 h of silence and a mains device after 10 minutes.
_AVAILABILITY_TIMEOUT_S = {True: 25 * 3600.0, False: 600.0}


@dataclass(frozen=True, slots=True)
class Planned:
    """An incident or fault on a given day of the simulation."""

    day_index: int
    kind: str


def draw_schedule(
    *, rng: random.Random, days: int, per_month: float, kinds: tuple[str, ...]
) -> list[Planned]:
    """Random incidents or faults over the period, about `per_month` of them every 30 days."""
    planned: list[Planned] = []
    for day_index in range(days):
        for _ in range(poisson(rng=rng, mean=per_month / 30.0)):
            planned.append(Planned(day_index, rng.choice(kinds)))
    return planned


def night_incidents(kinds: list[str]) -> NightIncidents:
    """The night-shaping incidents among a day's planned ones."""
    return NightIncidents(
        out_of_bed_too_long="out_of_bed_too_long" in kinds,
        left_flat_at_night="left_flat_at_night" in kinds,
        did_not_get_up="did_not_get_up" in kinds,
    )


def _home_time(
    plan: DayPlan, rng: random.Random, *, places: tuple[Place, ...] | None = None, daytime: bool = True
) -> tuple[float, Stay] | None:
    """A random moment when the resident is at home (in one of `places`, if given)."""
    stays = [
        stay
        for stay in plan.stays
        if stay.place is not Place.OUT
        and stay.end - stay.start > 60
        and (places is None or stay.place in places)
        and (not daytime or stay.start < plan.bedtime)
    ]
    if not stays:
        return None
    stay = rng.choice(stays)
    return rng.uniform(stay.start + 5, stay.end - 5), stay


def night_incident_records(*, plan: DayPlan, kinds: list[str], tz: ZoneInfo) -> list[dict[str, Any]]:
    """Truth records for the incidents that shaped the night (read back from the planned stays)."""
    records: list[dict[str, Any]] = []
    night = [stay for stay in plan.stays if stay.start >= plan.bedtime]
    if "left_flat_at_night" in kinds:
        for stay in night:
            if stay.place is Place.OUT:
                records.append(
                    {
                        "incident": "left_flat_at_night",
                        "start": stamp(stay.start, tz),
                        "end": stamp(stay.end, tz),
                        "location": "front_door",
                        "device": names.FRONT_DOOR,
                        "minutes_away": round((stay.end - stay.start) / 60, 1),
                    }
                )
    if "out_of_bed_too_long" in kinds:
        beds = [stay for stay in night if stay.place is Place.BED]
        gaps = [(left.end, back.start) for left, back in itertools.pairwise(beds)]
        if gaps:
            start, end = max(gaps, key=lambda gap: gap[1] - gap[0])
            if end - start > 45 * 60:
                records.append(
                    {
                        "incident": "out_of_bed_too_long",
                        "start": stamp(start, tz),
                        "end": stamp(end, tz),
                        "location": "living_room",
                        "device": names.BED_MAT,
                        "minutes_out": round((end - start) / 60, 1),
                    }
                )
    if "did_not_get_up" in kinds:
        records.append(
            {
                "incident": "did_not_get_up",
                "start": stamp(plan.usual_rise, tz),
                "end": stamp(plan.next_rise, tz),
                "location": "bedroom",
                "device": names.BED_MAT,
                "minutes_late": round((plan.next_rise - plan.usual_rise) / 60, 1),
            }
        )
    return [{"record": "incident", **record} for record in records]


def device_incident(
    *, kind: str, plan: DayPlan, home: HomeLayout, rng: random.Random, tz: ZoneInfo
) -> tuple[DayPlan, list[Stimulus], dict[str, Any]] | None:
    """Apply one device-raised incident: the changed plan, its stimuli and truth (None if impossible)."""
    if kind == "fall":
        moment = _home_time(plan, rng, places=(Place.BATHROOM,) if rng.random() < 0.7 else None)
        if moment is None:
            return None
        at, _ = moment
        lie = rng.uniform(30, 120) * 60
        fallen = apply_fall(plan.stays, at=at, lie_s=lie)
        if fallen is None:
            return None
        stays, place = fallen
        stimuli: list[Stimulus] = []
        seen_by = None
        if place is Place.BATHROOM and names.FALL_RADAR in {spec.friendly_name for spec in home.devices}:
            seen_by = names.FALL_RADAR
            stimuli = [
                Stimulus(at, names.FALL_RADAR, Action.SET, (("fall_down_status", "fall"),)),
                Stimulus(at + lie, names.FALL_RADAR, Action.SET, (("fall_down_status", "none"),)),
            ]
        new_plan = DayPlan(
            day=plan.day,
            stays=stays,
            visits=plan.visits,
            bedtime=plan.bedtime,
            next_rise=plan.next_rise,
            usual_rise=plan.usual_rise,
        )
        truth = {
            "incident": "fall",
            "start": stamp(at, tz),
            "end": stamp(at + lie, tz),
            "location": place.value,
            "device": seen_by,
            "no_movement_minutes": round(lie / 60, 1),
        }
        return new_plan, stimuli, {"record": "incident", **truth}
    moment = _home_time(
        plan, rng, places=(Place.KITCHEN,) if kind == "smoke" else None, daytime=kind != "flood"
    )
    if moment is None:
        return None
    at, stay = moment
    if kind == "pendant_press":
        stimuli = [Stimulus(at, names.PENDANT, Action.SET, (("action", "emergency"),))]
        truth = {
            "incident": "pendant_press",
            "start": stamp(at, tz),
            "end": None,
            "location": stay.place.value,
            "device": names.PENDANT,
        }
    elif kind == "smoke":
        end = at + rng.uniform(4, 20) * 60
        stimuli = [
            Stimulus(at, names.SMOKE, Action.SET, (("smoke", True), ("test", False))),
            Stimulus(end, names.SMOKE, Action.SET, (("smoke", False),)),
        ]
        truth = {
            "incident": "smoke",
            "start": stamp(at, tz),
            "end": stamp(end, tz),
            "location": "hallway",
            "device": names.SMOKE,
            "real_fire": True,
        }
    elif kind == "smoke_test":
        end = at + rng.uniform(4, 12)
        stimuli = [
            Stimulus(at, names.SMOKE, Action.SET, (("smoke", True), ("test", True))),
            Stimulus(end, names.SMOKE, Action.SET, (("smoke", False), ("test", False))),
        ]
        truth = {
            "incident": "smoke_test",
            "start": stamp(at, tz),
            "end": stamp(end, tz),
            "location": "hallway",
            "device": names.SMOKE,
            "real_fire": False,
        }
    elif kind == "flood":
        end = at + rng.uniform(30, 180) * 60
        stimuli = [
            Stimulus(at, names.FLOOD, Action.SET, (("water_leak", True),)),
            Stimulus(end, names.FLOOD, Action.SET, (("water_leak", False),)),
        ]
        truth = {
            "incident": "flood",
            "start": stamp(at, tz),
            "end": stamp(end, tz),
            "location": "bathroom",
            "device": names.FLOOD,
        }
    elif kind == "cold_flat":
        # The temperature stimuli carry the cold spell; see `cold_spell`.
        return None
    else:
        raise ValueError(f"unknown incident {kind!r}")
    return plan, stimuli, {"record": "incident", **truth}


def cold_spell(*, plan: DayPlan, rng: random.Random) -> tuple[float, float, float]:
    """(heating fails at, restored at, coldest °C) for a cold-flat incident."""
    start = plan.bedtime - rng.uniform(2, 14) * 3600
    return start, start + rng.uniform(8, 16) * 3600, rng.uniform(9.5, 12.5)


def fault(
    *, kind: str, start: float, home: HomeLayout, rng: random.Random, tz: ZoneInfo
) -> tuple[list[Stimulus], dict[str, Any]]:
    """One device fault's stimuli (possibly spanning days) and its truth window."""
    battery_devices = [spec for spec in home.devices if spec.definition.battery]
    if kind == "hub_offline":
        end = start + rng.uniform(20, 360) * 60
        stimuli = [
            Stimulus(start, HUB_DEVICE, Action.HUB_OFFLINE),
            Stimulus(end, HUB_DEVICE, Action.HUB_ONLINE),
        ]
        return stimuli, {"fault": kind, "device": None, "start": stamp(start, tz), "end": stamp(end, tz)}
    if kind == "device_offline":
        spec = rng.choice(list(home.devices))
        end = start + rng.uniform(3, 40) * 3600
        announce = start + _AVAILABILITY_TIMEOUT_S[spec.definition.battery]
        stimuli = [Stimulus(start, spec.friendly_name, Action.MUTE)]
        announced = None
        if announce < end:
            stimuli.append(Stimulus(announce, spec.friendly_name, Action.DEVICE_OFFLINE))
            announced = stamp(announce, tz)
        stimuli.append(Stimulus(end, spec.friendly_name, Action.DEVICE_ONLINE))
        return stimuli, {
            "fault": kind,
            "device": spec.friendly_name,
            "start": stamp(start, tz),
            "end": stamp(end, tz),
            "availability_offline_at": announced,
        }
    if kind == "tamper":
        candidates = [spec for spec in home.devices if spec.friendly_name in (names.SMOKE, names.FLOOD)]
        spec = rng.choice(candidates or battery_devices)
        end = start + rng.uniform(1, 10) * 60
        stimuli = [
            Stimulus(start, spec.friendly_name, Action.SET, (("tamper", True),)),
            Stimulus(end, spec.friendly_name, Action.SET, (("tamper", False),)),
        ]
        return stimuli, {
            "fault": kind,
            "device": spec.friendly_name,
            "start": stamp(start, tz),
            "end": stamp(end, tz),
        }
    if kind == "battery_decline":
        spec = rng.choice(battery_devices)
        has_low_flag = any(field == "battery_low" for field, _ in spec.definition.initial_state)
        days = rng.uniform(6, 12)
        step = 6 * 3600.0
        reports = int(days * 86400 / step)
        stimuli = []
        low_at = None
        for report in range(1, reports + 1):
            level = max(2, round(100 - 98 * report / reports))
            at = start + report * step
            fields: tuple[tuple[str, object], ...] = (("battery", level),)
            if has_low_flag:
                fields += (("battery_low", level < 20),)
            if level < 20 and low_at is None:
                low_at = at
            stimuli.append(Stimulus(at, spec.friendly_name, Action.SET, fields))
        end = start + reports * step + rng.uniform(1, 3) * 86400
        replaced: tuple[tuple[str, object], ...] = (("battery", 100),)
        if has_low_flag:
            replaced += (("battery_low", False),)
        stimuli.append(Stimulus(end, spec.friendly_name, Action.SET, replaced))
        return stimuli, {
            "fault": kind,
            "device": spec.friendly_name,
            "start": stamp(start, tz),
            "end": stamp(end, tz),
            "battery_low_at": stamp(low_at, tz) if low_at else None,
        }
    raise ValueError(f"unknown fault {kind!r}")
