"""Homes and their devices: which sensors a flat has, and how each one appears on Zigbee2MQTT."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from telecare.vocabulary import DeviceType, Location


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """A real device model: its Z2M definition and the state fields it carries in every message."""

    model: str
    vendor: str
    description: str
    battery: bool
    # The fields of the device's own state, with the value a freshly paired device reports.
    initial_state: tuple[tuple[str, object], ...]


# The models from docs/domain.md's device table, with the fields Z2M really sends for them.
MODELS: dict[str, DeviceModel] = {
    "RTCGQ11LM": DeviceModel(
        "RTCGQ11LM", "Aqara", "Motion sensor", True, (("occupancy", False), ("illuminance", 0))
    ),
    "MCCGQ11LM": DeviceModel("MCCGQ11LM", "Aqara", "Door and window sensor", True, (("contact", True),)),
    "SJCGQ11LM": DeviceModel(
        "SJCGQ11LM",
        "Aqara",
        "Water leak sensor",
        True,
        (("water_leak", False), ("battery_low", False), ("tamper", False)),
    ),
    "HS1SA": DeviceModel(
        "HS1SA",
        "Heiman",
        "Smoke detector",
        True,
        (("smoke", False), ("test", False), ("battery_low", False), ("tamper", False)),
    ),
    "TS0215A_sos": DeviceModel("TS0215A_sos", "Tuya", "SOS button", True, ()),
    "MIR-HE200-TY": DeviceModel(
        "MIR-HE200-TY", "Tuya", "Fall sensor", False, (("fall_down_status", "none"),)
    ),
    "SPM915": DeviceModel("SPM915", "OWON", "Bed/chair occupancy sensor", True, (("pressure", False),)),
    "DJT11LM": DeviceModel("DJT11LM", "Aqara", "Vibration sensor", True, (("vibration", False),)),
    "WSDCGQ11LM": DeviceModel(
        "WSDCGQ11LM",
        "Aqara",
        "Temperature and humidity sensor",
        True,
        (("temperature", 20.0), ("humidity", 50.0)),
    ),
    "TS011F_plug_1": DeviceModel(
        "TS011F_plug_1",
        "Tuya",
        "Smart plug (with power monitoring)",
        False,
        (("state", "ON"), ("power", 0), ("voltage", 231), ("energy", 0.0)),
    ),
}

DEFAULT_MODEL: dict[DeviceType, str] = {
    DeviceType.PIR: "RTCGQ11LM",
    DeviceType.DOOR: "MCCGQ11LM",
    DeviceType.FLOOD: "SJCGQ11LM",
    DeviceType.SMOKE: "HS1SA",
    DeviceType.PERSONAL_TRIGGER: "TS0215A_sos",
    DeviceType.FALL_DETECTOR: "MIR-HE200-TY",
    DeviceType.BED_SENSOR: "SPM915",
    DeviceType.CHAIR_SENSOR: "SPM915",
    DeviceType.VIBRATION: "DJT11LM",
    DeviceType.TOILET_FLUSH: "DJT11LM",
    DeviceType.TEMPERATURE: "WSDCGQ11LM",
    DeviceType.PLUG: "TS011F_plug_1",
}


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One device in one home."""

    friendly_name: str
    type: DeviceType
    location: Location
    model: str
    ieee_address: str

    @property
    def definition(self) -> DeviceModel:
        """The model's definition."""
        return MODELS[self.model]


@dataclass(frozen=True, slots=True)
class HomeLayout:
    """A flat: its hub and devices; `pir_by_room` says which PIR sees each room."""

    hub_id: str
    devices: tuple[DeviceSpec, ...]

    def by_name(self, friendly_name: str) -> DeviceSpec:
        """The device with this friendly name."""
        for device in self.devices:
            if device.friendly_name == friendly_name:
                return device
        raise KeyError(friendly_name)

    def find(self, *, device_type: DeviceType, location: Location | None = None) -> DeviceSpec | None:
        """The first device of a type (and location, if given), or None when the flat has none."""
        for device in self.devices:
            if device.type == device_type and (location is None or device.location == location):
                return device
        return None


def ieee_for(*, hub_id: str, friendly_name: str) -> str:
    """A stable, realistic-looking IEEE address derived from the hub and the name."""
    digest = hashlib.sha256(f"{hub_id}/{friendly_name}".encode()).hexdigest()
    return "0x00158d" + digest[:10]


def device(
    *, hub_id: str, friendly_name: str, device_type: DeviceType, location: Location, model: str | None = None
) -> DeviceSpec:
    """A device spec with the default model for its type unless one is given."""
    chosen = model or DEFAULT_MODEL[device_type]
    if chosen not in MODELS:
        raise KeyError(f"unknown device model {chosen!r}")
    return DeviceSpec(
        friendly_name=friendly_name,
        type=device_type,
        location=location,
        model=chosen,
        ieee_address=ieee_for(hub_id=hub_id, friendly_name=friendly_name),
    )


# Rooms a resident moves between and the PIR each has in a standard flat. Friendly names deliberately
# contain `/`, as real installations name them, so consumers must match against bridge/devices.
ROOM_PIRS: dict[Location, str] = {
    Location.BEDROOM: "bedroom/motion",
    Location.BATHROOM: "bathroom/motion",
    Location.KITCHEN: "kitchen/motion",
    Location.LIVING_ROOM: "living room/motion",
    Location.HALLWAY: "hallway/motion",
}
BED_MAT = "bedroom/bed mat"
FRONT_DOOR = "front door"
PENDANT = "pendant"
SMOKE = "hallway/smoke"
FLOOD = "bathroom/leak"
TEMPERATURE = "living room/temperature"
KETTLE = "kitchen/kettle plug"
FALL_RADAR = "bathroom/fall radar"


def standard_flat(*, hub_id: str) -> HomeLayout:
    """The supported-living flat the scheme simulator uses: docs/domain.md's devices, one PIR per room."""
    specs = [
        device(hub_id=hub_id, friendly_name=name, device_type=DeviceType.PIR, location=room)
        for room, name in ROOM_PIRS.items()
    ]
    specs += [
        device(
            hub_id=hub_id, friendly_name=BED_MAT, device_type=DeviceType.BED_SENSOR, location=Location.BEDROOM
        ),
        device(
            hub_id=hub_id, friendly_name=FRONT_DOOR, device_type=DeviceType.DOOR, location=Location.FRONT_DOOR
        ),
        device(
            hub_id=hub_id,
            friendly_name=PENDANT,
            device_type=DeviceType.PERSONAL_TRIGGER,
            location=Location.OTHER,
        ),
        device(hub_id=hub_id, friendly_name=SMOKE, device_type=DeviceType.SMOKE, location=Location.HALLWAY),
        device(hub_id=hub_id, friendly_name=FLOOD, device_type=DeviceType.FLOOD, location=Location.BATHROOM),
        device(
            hub_id=hub_id,
            friendly_name=TEMPERATURE,
            device_type=DeviceType.TEMPERATURE,
            location=Location.LIVING_ROOM,
        ),
        device(hub_id=hub_id, friendly_name=KETTLE, device_type=DeviceType.PLUG, location=Location.KITCHEN),
        device(
            hub_id=hub_id,
            friendly_name=FALL_RADAR,
            device_type=DeviceType.FALL_DETECTOR,
            location=Location.BATHROOM,
        ),
    ]
    return HomeLayout(hub_id=hub_id, devices=tuple(specs))
