"""From where the resident is to what each sensor senses: stays become device stimuli."""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from simulators import layout as names
from simulators.layout import HomeLayout
from simulators.routine import Place, Stay
from simulators.stimuli import Action, Stimulus
from telecare.vocabulary import DeviceType, Location

# Mean seconds between PIR detections while someone is in the room (Aqara cannot re-trigger within 60 s).
_DETECTION_GAP_S = {
    Place.KITCHEN: 75.0,
    Place.BATHROOM: 65.0,
    Place.HALLWAY: 30.0,
    Place.BEDROOM: 120.0,
    Place.LIVING_ROOM: 280.0,
}
_BLIND_S = 61.0
# Someone up and about moves within a quarter of an hour; lying or sitting motionless is what a `still`
# stay says. An unbounded tail made "awake" stays look motionless for half an hour now and then, which
# the truth calls activity and a night worker (or the out-of-bed rule) would call stillness.
_LONGEST_STIR_GAP_S = 900.0
# Aqara devices report every ~50 minutes; Heiman and Tuya battery devices rarely; mains devices hourly.
_CHECKIN_S = {
    "RTCGQ11LM": 3000.0,
    "MCCGQ11LM": 3000.0,
    "SJCGQ11LM": 3000.0,
    "WSDCGQ11LM": 3000.0,
    "DJT11LM": 3000.0,
    "HS1SA": 4 * 3600.0,
    "TS0215A_sos": 6 * 3600.0,
    "SPM915": 3600.0,
    "TS011F_plug_1": 3600.0,
    "MIR-HE200-TY": 3600.0,
}


def illuminance(*, tz: ZoneInfo, at: float, rng: random.Random) -> int:
    """Lux a PIR would see: daylight by hour, lamps in the evening, dark at night."""
    hour = datetime.fromtimestamp(at, tz).hour
    if 8 <= hour < 17:
        return rng.randrange(120, 600)
    if 17 <= hour < 23 or 6 <= hour < 8:
        return rng.randrange(30, 160)
    return rng.randrange(0, 12)


def _pir_for(home: HomeLayout, place: Place) -> str | None:
    if place in (Place.BED, Place.OUT):
        return None
    spec = home.find(device_type=DeviceType.PIR, location=Location(place.value))
    return spec.friendly_name if spec else None


def stay_stimuli(
    *, home: HomeLayout, stays: tuple[Stay, ...] | list[Stay], tz: ZoneInfo, rng: random.Random
) -> list[Stimulus]:
    """What the PIRs, bed mat, front door and kettle sense during the stays (unsorted)."""
    out: list[Stimulus] = []
    has_mat = any(spec.friendly_name == names.BED_MAT for spec in home.devices)
    has_kettle = any(spec.friendly_name == names.KETTLE for spec in home.devices)
    energy = 0.0
    for stay in stays:
        if stay.place is Place.BED and has_mat:
            out.append(Stimulus(stay.start, names.BED_MAT, Action.SET, (("pressure", True),)))
            out.append(Stimulus(stay.end, names.BED_MAT, Action.SET, (("pressure", False),)))
            continue
        if stay.place is Place.OUT:
            for at in (stay.start, stay.end):
                out.append(Stimulus(at, names.FRONT_DOOR, Action.SET, (("contact", False),)))
                out.append(
                    Stimulus(at + rng.uniform(3, 8), names.FRONT_DOOR, Action.SET, (("contact", True),))
                )
            continue
        pir = _pir_for(home, stay.place)
        if pir is not None and not stay.still:
            gap = _DETECTION_GAP_S[stay.place]
            at = stay.start + rng.uniform(0.2, 2.5)
            while at < stay.end:
                out.append(
                    Stimulus(
                        at,
                        pir,
                        Action.DETECT,
                        (("occupancy", True), ("illuminance", illuminance(tz=tz, at=at, rng=rng))),
                    )
                )
                at += min(_LONGEST_STIR_GAP_S, max(_BLIND_S, rng.expovariate(1.0 / gap)))
        if stay.kettle and has_kettle:
            on = stay.start + rng.uniform(20, 60)
            boil = rng.uniform(140, 230)
            watts = rng.randrange(2000, 2250)
            energy += watts * boil / 3_600_000
            out.append(Stimulus(on, names.KETTLE, Action.SET, (("power", watts),)))
            out.append(
                Stimulus(on + boil, names.KETTLE, Action.SET, (("power", 0), ("energy", round(energy, 3))))
            )
    return out


# The low-temperature alarm care plans usually set (rules default `temperature_low_c`): the truth says
# when the thermometer first read below it, since that, not the heating failure, is when a night
# worker would have been told.
COLD_ALARM_C = 12.0


def first_reading_below(*, readings: list[Stimulus], threshold_c: float, tz: ZoneInfo) -> dict[str, Any] | None:
    """The first of `readings` (thermometer stimuli) colder than `threshold_c`, as a truth field; None if none."""
    for reading in sorted(readings, key=lambda stimulus: stimulus.time):
        value = dict(reading.fields).get("temperature")
        if isinstance(value, int | float) and value < threshold_c:
            when = datetime.fromtimestamp(round(reading.time), tz).isoformat()
            return {"threshold_c": threshold_c, "at": when, "reading_c": value}
    return None


def visit_stimuli(
    *, home: HomeLayout, visits: tuple[tuple[float, float], ...], rng: random.Random
) -> list[Stimulus]:
    """A visitor's arrival and departure: the front door and the hallway."""
    out: list[Stimulus] = []
    hallway = home.find(device_type=DeviceType.PIR, location=Location.HALLWAY)
    for arrive, leave in visits:
        for at in (arrive, leave):
            out.append(Stimulus(at, names.FRONT_DOOR, Action.SET, (("contact", False),)))
            out.append(Stimulus(at + rng.uniform(4, 10), names.FRONT_DOOR, Action.SET, (("contact", True),)))
            if hallway is not None:
                out.append(
                    Stimulus(
                        at + 1,
                        hallway.friendly_name,
                        Action.DETECT,
                        (("occupancy", True), ("illuminance", rng.randrange(20, 150))),
                    )
                )
    return out


def checkin_stimuli(*, home: HomeLayout, start: float, end: float, rng: random.Random) -> list[Stimulus]:
    """Periodic reports every device sends whether or not anything happened."""
    out: list[Stimulus] = []
    for spec in home.devices:
        period = _CHECKIN_S[spec.model]
        at = start + rng.uniform(0, period)
        while at < end:
            out.append(Stimulus(at, spec.friendly_name, Action.CHECKIN))
            at += period * rng.uniform(0.9, 1.1)
    return out


def temperature_stimuli(
    *,
    home: HomeLayout,
    start: float,
    end: float,
    base_c: float,
    tz: ZoneInfo,
    rng: random.Random,
    cold: tuple[float, float, float] | None = None,
) -> list[Stimulus]:
    """The room thermometer: a daily cycle around the flat's set point; `cold` = (from, to, low_c)."""
    spec = home.find(device_type=DeviceType.TEMPERATURE)
    if spec is None:
        return []
    out: list[Stimulus] = []
    at = start + rng.uniform(0, 900)
    while at < end:
        hour = datetime.fromtimestamp(at, tz).hour + datetime.fromtimestamp(at, tz).minute / 60
        value = base_c + 1.2 * math.sin((hour - 9) / 24 * 2 * math.pi) + rng.gauss(0, 0.15)
        if cold is not None and cold[0] <= at:
            fall_in, recover = cold[0], cold[1]
            depth = (
                min(1.0, (at - fall_in) / (4 * 3600))
                if at < recover
                else max(0.0, 1.0 - (at - recover) / (3 * 3600))
            )
            value = value + depth * (cold[2] - value)
        humidity = 48 + 6 * math.sin(hour / 24 * 2 * math.pi) + rng.gauss(0, 1)
        out.append(
            Stimulus(
                at,
                spec.friendly_name,
                Action.SET,
                (("temperature", round(value, 2)), ("humidity", round(humidity, 1))),
            )
        )
        at += rng.uniform(900, 1800)
    return out
