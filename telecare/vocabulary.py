"""The domain vocabulary: device types, event kinds and locations, with their social-alarm codes.

The canonical telecare event and every adapter speak these words; SCAIP (CLC/TS 50134-9) and
Contact ID codes are attached here so alarm receiving centres can be fed without a second mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DeviceType(StrEnum):
    """What a device is, keyed to the SCAIP device-type code in `SCAIP_DEVICE_CODES`."""

    PERSONAL_TRIGGER = "personal_trigger"
    PULL_CORD = "pull_cord"
    FALL_DETECTOR = "fall_detector"
    PIR = "pir"
    PILL_DISPENSER = "pill_dispenser"
    BED_SENSOR = "bed_sensor"
    CHAIR_SENSOR = "chair_sensor"
    MAT = "mat"
    DOOR = "door"
    EPILEPSY = "epilepsy"
    GAS = "gas"
    SMOKE = "smoke"
    HEAT = "heat"
    CO = "co"
    FLOOD = "flood"
    TEMPERATURE = "temperature"
    PRESENCE = "presence"
    VIBRATION = "vibration"
    PLUG = "plug"
    BUTTON = "button"
    # A sensor on the cistern or flush (usually a vibration sensor): a toilet visit, reported as `vibration`.
    TOILET_FLUSH = "toilet_flush"
    HUB = "hub"


SCAIP_DEVICE_CODES: dict[DeviceType, str] = {
    DeviceType.PERSONAL_TRIGGER: "0003",
    DeviceType.BUTTON: "0003",
    DeviceType.PULL_CORD: "0004",
    DeviceType.FALL_DETECTOR: "0005",
    DeviceType.PIR: "0010",
    DeviceType.PRESENCE: "0010",
    DeviceType.PILL_DISPENSER: "0011",
    DeviceType.BED_SENSOR: "0012",
    DeviceType.VIBRATION: "0012",
    DeviceType.MAT: "0013",
    DeviceType.DOOR: "0014",
    DeviceType.EPILEPSY: "0017",
    DeviceType.GAS: "0021",
    DeviceType.SMOKE: "0023",
    DeviceType.HEAT: "0025",
    DeviceType.CO: "0026",
    DeviceType.FLOOD: "0033",
    DeviceType.CHAIR_SENSOR: "0044",
}


class Location(StrEnum):
    """Where in the flat, with SCAIP location codes."""

    BATHROOM = "bathroom"
    BEDROOM = "bedroom"
    KITCHEN = "kitchen"
    FRONT_DOOR = "front_door"
    HALLWAY = "hallway"
    LIVING_ROOM = "living_room"
    # A study, office or work area: somewhere awake, like the living room, not the bedroom.
    STUDY = "study"
    OTHER = "other"


SCAIP_LOCATION_CODES: dict[Location, str] = {
    Location.BATHROOM: "011",
    Location.BEDROOM: "012",
    Location.KITCHEN: "021",
    Location.FRONT_DOOR: "039",
    Location.HALLWAY: "042",
    Location.LIVING_ROOM: "043",
}


class EventKind(StrEnum):
    """What happened. Alarm kinds have a matching restore (`is_restore=True` on the event)."""

    # Alarms raised straight away.
    PERSONAL_TRIGGER = "personal_trigger"
    FALL = "fall"
    SMOKE = "smoke"
    SMOKE_TEST = "smoke_test"
    CO = "co"
    FLOOD = "flood"
    GAS = "gas"
    HEAT = "heat"
    TAMPER = "tamper"
    # Activity and state, read by the night-time rules and the nightly summaries.
    MOTION = "motion"
    DOOR_OPEN = "door_open"
    DOOR_CLOSED = "door_closed"
    BED_OCCUPIED = "bed_occupied"
    BED_VACATED = "bed_vacated"
    CHAIR_OCCUPIED = "chair_occupied"
    CHAIR_VACATED = "chair_vacated"
    PRESENCE = "presence"
    VIBRATION = "vibration"
    BUTTON = "button"
    APPLIANCE_ON = "appliance_on"
    APPLIANCE_OFF = "appliance_off"
    # Measurements.
    TEMPERATURE = "temperature"
    POWER = "power"
    BATTERY = "battery"
    # Technical.
    # A device reporting that nothing changed (a Zigbee2MQTT check-in), kept at most every 10 min on device time
    # so a replay of stored history can tell a quiet sensor from a dead one, as the live service does.
    CHECK_IN = "check_in"
    BATTERY_LOW = "battery_low"
    DEVICE_OFFLINE = "device_offline"
    HUB_OFFLINE = "hub_offline"
    MAINS_FAIL = "mains_fail"
    PLANNED_PRESENCE = "planned_presence"
    CANCEL = "cancel"
    INTERVENTION_COMPLETE = "intervention_complete"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class AlarmCodes:
    """The social-alarm codes for one event kind: SCAIP status and Contact ID event."""

    scaip_status: str
    contact_id: str


# SCAIP status code and Contact ID event code per kind. A restore sends Contact ID qualifier 3 and,
# where SCAIP has a dedicated restore status, that one (otherwise 0094 restoral).
ALARM_CODES: dict[EventKind, AlarmCodes] = {
    EventKind.PERSONAL_TRIGGER: AlarmCodes("0000", "101"),
    EventKind.FALL: AlarmCodes("0000", "101"),
    EventKind.SMOKE: AlarmCodes("0000", "111"),
    EventKind.SMOKE_TEST: AlarmCodes("0102", "602"),
    EventKind.CO: AlarmCodes("0000", "162"),
    EventKind.FLOOD: AlarmCodes("0000", "154"),
    EventKind.GAS: AlarmCodes("0000", "151"),
    EventKind.HEAT: AlarmCodes("0100", "158"),
    EventKind.TAMPER: AlarmCodes("0125", "383"),
    EventKind.BATTERY_LOW: AlarmCodes("0016", "384"),
    EventKind.DEVICE_OFFLINE: AlarmCodes("0123", "147"),
    EventKind.HUB_OFFLINE: AlarmCodes("0073", "381"),
    EventKind.MAINS_FAIL: AlarmCodes("0085", "301"),
    EventKind.MOTION: AlarmCodes("0119", "102"),
    EventKind.PLANNED_PRESENCE: AlarmCodes("0087", "102"),
    EventKind.CANCEL: AlarmCodes("0019", "406"),
    EventKind.INTERVENTION_COMPLETE: AlarmCodes("0111", "406"),
    EventKind.TEST: AlarmCodes("0102", "602"),
}

RESTORE_STATUS: dict[EventKind, str] = {
    EventKind.DEVICE_OFFLINE: "0124",
    EventKind.HUB_OFFLINE: "0075",
    EventKind.MAINS_FAIL: "0086",
}

CONTACT_ID_NEW = "1"
CONTACT_ID_RESTORE = "3"

# Kinds that carry a restore in the canonical format (a condition that can clear).
RESTORABLE_KINDS: frozenset[EventKind] = frozenset(
    {
        EventKind.PERSONAL_TRIGGER,
        EventKind.FALL,
        EventKind.SMOKE,
        EventKind.CO,
        EventKind.FLOOD,
        EventKind.GAS,
        EventKind.HEAT,
        EventKind.TAMPER,
        EventKind.BATTERY_LOW,
        EventKind.DEVICE_OFFLINE,
        EventKind.HUB_OFFLINE,
        EventKind.MAINS_FAIL,
    }
)


def contact_id_for(*, kind: EventKind, is_restore: bool) -> str | None:
    """Contact ID 'Q EEE' string for an event (qualifier and event code), or None if it has none."""
    codes = ALARM_CODES.get(kind)
    if codes is None:
        return None
    qualifier = CONTACT_ID_RESTORE if is_restore else CONTACT_ID_NEW
    return f"{qualifier} {codes.contact_id}"


def scaip_status_for(*, kind: EventKind, is_restore: bool) -> str | None:
    """SCAIP status code for an event, or None if SCAIP has none for it."""
    if is_restore:
        return RESTORE_STATUS.get(kind, "0094")
    codes = ALARM_CODES.get(kind)
    return codes.scaip_status if codes else None
