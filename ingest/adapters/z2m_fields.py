"""Zigbee2MQTT state fields: validation, and edge detection from one whole-state message to the next.

Zigbee2MQTT sends the device's whole cached state in every message, so an event is a *change* of a
field, read according to what the device is (a `contact` is a door on a door sensor and weight on a
bed mat).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.messages import DeadLetterReason, Rejected
from telecare.vocabulary import DeviceType, EventKind

_BOOL_FIELDS = frozenset(
    {"occupancy", "contact", "water_leak", "smoke", "test", "carbon_monoxide", "gas", "presence",
     "vibration", "battery_low", "tamper"}
)
# field -> (low, high): values outside are a broken device or a hostile payload.
_NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "battery": (0, 100),
    "temperature": (-40, 125),
    "humidity": (0, 100),
    "power": (0, 10_000),
    "linkquality": (0, 255),
    "illuminance": (0, 200_000),
    "illuminance_lux": (0, 200_000),
}
_TEXT_FIELDS = frozenset({"action", "fall_down_status", "presence_event", "state"})
_MAX_TEXT = 64
# The device state is kept (as JSONB) for edge detection. Real Z2M state nests two or three levels
# (`update.state`, `color.x`); a state nested hundreds deep cannot even be serialised again, and
# PostgreSQL's JSONB refuses the NUL character, so both are refused here, before anything is kept.
MAX_STATE_DEPTH = 8
# Fields are merged into the kept state message by message; without a cap, a device (or someone
# publishing on its topic) inventing new field names would grow that state without end.
MAX_STATE_FIELDS = 256

# Kinds that are never lost to a wrong device clock: they are kept at arrival time instead.
ALARM_KINDS = frozenset(
    {EventKind.PERSONAL_TRIGGER, EventKind.FALL, EventKind.SMOKE, EventKind.CO, EventKind.FLOOD,
     EventKind.GAS, EventKind.HEAT}
)

_MAT_TYPES = {DeviceType.BED_SENSOR.value, DeviceType.MAT.value, DeviceType.CHAIR_SENSOR.value}
# A PIR that reports occupancy again this long after its last rising edge has seen new motion, even
# if the 90 s clear was lost (a Z2M restart drops its clear timers and replays `occupancy: true`).
_OCCUPANCY_RETRIGGER_S = 120.0
_TEMPERATURE_STEP = 0.5
_POWER_STEP = 10.0
_APPLIANCE_ON_W = 10.0
# Private keys kept in `last_state` beside the device's own fields.
_EMITTED_TEMPERATURE = "__emitted_temperature"
_EMITTED_POWER = "__emitted_power"
_OCCUPANCY_SINCE = "__occupancy_since"


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event before it has a time, a key and a device attached."""

    kind: EventKind
    is_restore: bool = False
    value: float | None = None


def _check_structure(*, state: dict[str, Any]) -> None:
    """Refuse nesting deeper than MAX_STATE_DEPTH and NUL characters anywhere (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(state, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: list[Any] = list(value.values())
            if any("\x00" in key for key in value):
                raise Rejected(DeadLetterReason.INVALID_PAYLOAD, "a field name contains the NUL character")
        elif isinstance(value, list):
            children = value
        else:
            if isinstance(value, str) and "\x00" in value:
                raise Rejected(DeadLetterReason.INVALID_PAYLOAD, "a text value contains the NUL character")
            continue
        if depth > MAX_STATE_DEPTH:
            raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"state is nested deeper than {MAX_STATE_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def validate_state(*, state: dict[str, Any]) -> None:
    """Reject a state message whose known fields have the wrong type or an impossible value."""
    _check_structure(state=state)
    for name, value in state.items():
        if name in _BOOL_FIELDS:
            if not isinstance(value, bool) and value is not None:
                raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"field {name!r} must be true or false")
        elif name in _NUMBER_RANGES:
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"field {name!r} must be a number")
            low, high = _NUMBER_RANGES[name]
            if not low <= value <= high:
                raise Rejected(
                    DeadLetterReason.INVALID_PAYLOAD, f"field {name!r}={value!r} is outside {low}..{high}"
                )
        elif name in _TEXT_FIELDS:
            if value is not None and (not isinstance(value, str) or len(value) > _MAX_TEXT):
                raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"field {name!r} must be a short string")
        elif name == "pressure":
            if value is not None and not isinstance(value, bool | int | float):
                raise Rejected(DeadLetterReason.INVALID_PAYLOAD, "field 'pressure' must be boolean or a number")
        elif name.startswith("__"):
            raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"field {name!r} is reserved")


def _rising(previous: dict[str, Any], current: dict[str, Any], name: str, *, idle: bool = False) -> bool | None:
    """True on idle->active, False on active->idle, None when unchanged or absent."""
    value = current.get(name)
    if not isinstance(value, bool):
        return None
    before = previous.get(name, idle)
    if value == before:
        return None
    return value != idle


def _alarm_edge(drafts: list[EventDraft], previous: dict[str, Any], current: dict[str, Any], name: str,
                kind: EventKind) -> None:
    edge = _rising(previous, current, name)
    if edge is not None:
        drafts.append(EventDraft(kind=kind, is_restore=not edge))


def _mat_edges(drafts: list[EventDraft], previous: dict[str, Any], current: dict[str, Any], device_type: str) -> None:
    occupied_kind, vacated_kind = (
        (EventKind.CHAIR_OCCUPIED, EventKind.CHAIR_VACATED)
        if device_type == DeviceType.CHAIR_SENSOR.value
        else (EventKind.BED_OCCUPIED, EventKind.BED_VACATED)
    )
    for name in ("pressure", "occupancy", "contact"):
        if isinstance(current.get(name), bool):
            edge = _rising(previous, current, name)
            if edge is not None:
                drafts.append(EventDraft(kind=occupied_kind if edge else vacated_kind))
            return


def _occupancy_edges(drafts: list[EventDraft], previous: dict[str, Any], current: dict[str, Any],
                     event_time: datetime) -> None:
    value = current.get("occupancy")
    if value is not True:
        return
    now = event_time.timestamp()
    since = previous.get(_OCCUPANCY_SINCE)
    if previous.get("occupancy") is not True or not isinstance(since, float) or now - since > _OCCUPANCY_RETRIGGER_S:
        drafts.append(EventDraft(kind=EventKind.MOTION))
        current[_OCCUPANCY_SINCE] = now
    else:
        current[_OCCUPANCY_SINCE] = since


def _measurement_edges(drafts: list[EventDraft], previous: dict[str, Any], current: dict[str, Any]) -> None:
    temperature = current.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        emitted = previous.get(_EMITTED_TEMPERATURE)
        if not isinstance(emitted, int | float) or abs(temperature - emitted) >= _TEMPERATURE_STEP:
            drafts.append(EventDraft(kind=EventKind.TEMPERATURE, value=float(temperature)))
            emitted = temperature
        current[_EMITTED_TEMPERATURE] = emitted
    power = current.get("power")
    if isinstance(power, int | float) and not isinstance(power, bool):
        emitted = previous.get(_EMITTED_POWER)
        if not isinstance(emitted, int | float) or abs(power - emitted) >= _POWER_STEP:
            was_on = isinstance(emitted, int | float) and emitted >= _APPLIANCE_ON_W
            is_on = power >= _APPLIANCE_ON_W
            drafts.append(EventDraft(kind=EventKind.POWER, value=float(power)))
            if is_on != was_on and (is_on or isinstance(emitted, int | float)):
                drafts.append(EventDraft(kind=EventKind.APPLIANCE_ON if is_on else EventKind.APPLIANCE_OFF))
            emitted = power
        current[_EMITTED_POWER] = emitted


def _action_event(*, device_type: str, action: str) -> EventDraft:
    if device_type in {DeviceType.PERSONAL_TRIGGER.value, DeviceType.PULL_CORD.value} or action in {
        "emergency", "sos"
    }:
        return EventDraft(kind=EventKind.PERSONAL_TRIGGER)
    if device_type in {DeviceType.VIBRATION.value, DeviceType.TOILET_FLUSH.value} \
            or action in {"vibration", "tilt", "drop"}:
        return EventDraft(kind=EventKind.VIBRATION)
    if device_type == DeviceType.FALL_DETECTOR.value and action == "fall":
        return EventDraft(kind=EventKind.FALL)
    return EventDraft(kind=EventKind.BUTTON)


def state_events(
    *, device_type: str, previous: dict[str, Any], current: dict[str, Any], event_time: datetime
) -> list[EventDraft]:
    """The events one whole-state message means, given the device's previous state.

    `current` is updated in place with the private bookkeeping keys that the next message needs.
    """
    drafts: list[EventDraft] = []
    if device_type == DeviceType.DOOR.value:
        edge = _rising(previous, current, "contact", idle=True)
        if edge is not None:
            drafts.append(EventDraft(kind=EventKind.DOOR_OPEN if edge else EventKind.DOOR_CLOSED))
    elif device_type in _MAT_TYPES:
        _mat_edges(drafts, previous, current, device_type)
    elif device_type == DeviceType.PRESENCE.value:
        for name in ("presence", "occupancy"):
            edge = _rising(previous, current, name)
            if edge is not None:
                drafts.append(EventDraft(kind=EventKind.PRESENCE, value=1.0 if edge else 0.0))
    elif "occupancy" in current:
        _occupancy_edges(drafts, previous, current, event_time)

    _alarm_edge(drafts, previous, current, "water_leak", EventKind.FLOOD)
    _alarm_edge(drafts, previous, current, "carbon_monoxide", EventKind.CO)
    _alarm_edge(drafts, previous, current, "gas", EventKind.GAS)
    smoke = current.get("smoke")
    if isinstance(smoke, bool):
        testing = current.get("test") is True
        was_alarm = previous.get("smoke") is True and previous.get("test") is not True
        is_alarm = smoke and not testing
        if is_alarm != was_alarm:
            drafts.append(EventDraft(kind=EventKind.SMOKE, is_restore=not is_alarm))
        if smoke and testing and not (previous.get("smoke") is True and previous.get("test") is True):
            drafts.append(EventDraft(kind=EventKind.SMOKE_TEST))
    if _rising(previous, current, "vibration") is True:
        drafts.append(EventDraft(kind=EventKind.VIBRATION))
    fall_status = current.get("fall_down_status")
    if isinstance(fall_status, str) and fall_status != previous.get("fall_down_status"):
        if fall_status == "fall":
            drafts.append(EventDraft(kind=EventKind.FALL))
        elif previous.get("fall_down_status") == "fall":
            drafts.append(EventDraft(kind=EventKind.FALL, is_restore=True))
    action = current.get("action")
    if isinstance(action, str) and action:
        drafts.append(_action_event(device_type=device_type, action=action))
        # An action is an event, not state: never let it look like a repeat next time.
        current["action"] = None

    _measurement_edges(drafts, previous, current)
    _alarm_edge(drafts, previous, current, "battery_low", EventKind.BATTERY_LOW)
    _alarm_edge(drafts, previous, current, "tamper", EventKind.TAMPER)
    battery = current.get("battery")
    if isinstance(battery, int | float) and not isinstance(battery, bool) and battery != previous.get("battery"):
        drafts.append(EventDraft(kind=EventKind.BATTERY, value=float(battery)))
    return drafts
