"""Alert conditions: what an alert is about, and which event kinds raise and clear them."""

from __future__ import annotations

from enum import StrEnum

from telecare.vocabulary import DeviceType, EventKind


class Condition(StrEnum):
    """One kind of alert. One active alert per resident and condition."""

    PERSONAL_TRIGGER = "personal_trigger"
    FALL = "fall"
    SMOKE = "smoke"
    CO = "co"
    GAS = "gas"
    HEAT = "heat"
    FLOOD = "flood"
    TEMPERATURE_LOW = "temperature_low"
    TEMPERATURE_HIGH = "temperature_high"
    OUT_OF_BED = "out_of_bed"
    LEFT_FLAT = "left_flat"
    NOT_UP = "not_up"
    NOT_IN_BED = "not_in_bed"
    INACTIVITY = "inactivity"
    TAMPER = "tamper"
    MAINS_FAIL = "mains_fail"
    HUB_OFFLINE = "hub_offline"
    DEVICE_OFFLINE = "device_offline"
    DATA_GAP = "data_gap"
    BATTERY_LOW = "battery_low"


# Each stored event of these kinds is an activation: a repeat while the alert is active bumps it.
ACTIVATION_KINDS: dict[EventKind, Condition] = {
    EventKind.PERSONAL_TRIGGER: Condition.PERSONAL_TRIGGER,
    EventKind.FALL: Condition.FALL,
    EventKind.SMOKE: Condition.SMOKE,
    EventKind.CO: Condition.CO,
    EventKind.GAS: Condition.GAS,
    EventKind.HEAT: Condition.HEAT,
    EventKind.FLOOD: Condition.FLOOD,
    EventKind.TAMPER: Condition.TAMPER,
}

# State faults: an event opens the condition for its subject; a second report of an already open
# subject is the same fault, not a repeat.
STATE_KINDS: dict[EventKind, Condition] = {
    EventKind.BATTERY_LOW: Condition.BATTERY_LOW,
    EventKind.MAINS_FAIL: Condition.MAINS_FAIL,
    EventKind.DEVICE_OFFLINE: Condition.DEVICE_OFFLINE,
    EventKind.HUB_OFFLINE: Condition.HUB_OFFLINE,
}

# Conditions decided by timers over the resident's activity; these are what away periods and quiet
# hours hold back, and what a data gap must never be mistaken for.
ACTIVITY_CONDITIONS: frozenset[Condition] = frozenset(
    {Condition.OUT_OF_BED, Condition.LEFT_FLAT, Condition.NOT_UP, Condition.NOT_IN_BED, Condition.INACTIVITY}
)

# Life-safety alarms: an activity timer for the same resident shortly after one of these is the same
# incident (a faller on the floor is also "out of bed too long"), so it is attached, not raised again.
EMERGENCY_CONDITIONS: frozenset[Condition] = frozenset({Condition.PERSONAL_TRIGGER, Condition.FALL})

NO_CONTACT_CONDITIONS: frozenset[Condition] = frozenset({Condition.HUB_OFFLINE, Condition.DEVICE_OFFLINE})

# The device types each activity rule reads: only their silence makes its condition a data gap.
BED_DEVICE_TYPES = frozenset({DeviceType.BED_SENSOR.value, DeviceType.MAT.value})
_MOTION = frozenset({DeviceType.PIR.value, DeviceType.PRESENCE.value})
_DOOR = frozenset({DeviceType.DOOR.value})
RELIED_ON_DEVICE_TYPES: dict[Condition, frozenset[str]] = {
    # The bed says they went to bed (the front door, that they are out for the evening).
    Condition.NOT_IN_BED: BED_DEVICE_TYPES | _DOOR,
    # The bed (or, without one, the bedroom sensor) says they are back; motion elsewhere extends.
    Condition.OUT_OF_BED: BED_DEVICE_TYPES | _MOTION,
    Condition.NOT_UP: BED_DEVICE_TYPES | _MOTION,
    # The door says they went out; the bed and motion inside say they are back.
    Condition.LEFT_FLAT: BED_DEVICE_TYPES | _MOTION | _DOOR,
    Condition.INACTIVITY: BED_DEVICE_TYPES | _MOTION | _DOOR,
}

# Kinds that show someone is at home and moving (bed_occupied counts: they got into bed).
ACTIVITY_KINDS: frozenset[EventKind] = frozenset(
    {
        EventKind.MOTION, EventKind.PRESENCE, EventKind.DOOR_OPEN, EventKind.DOOR_CLOSED,
        EventKind.BED_OCCUPIED, EventKind.BED_VACATED, EventKind.CHAIR_OCCUPIED, EventKind.CHAIR_VACATED,
        EventKind.APPLIANCE_ON, EventKind.APPLIANCE_OFF, EventKind.VIBRATION, EventKind.BUTTON,
        EventKind.PERSONAL_TRIGGER, EventKind.CANCEL,
    }
)
