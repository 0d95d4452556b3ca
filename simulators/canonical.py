"""The project's canonical telecare event (`telecare.event/1`) for the same homes and stimuli."""

from __future__ import annotations

import orjson

from simulators.emulator import HubEmulator
from simulators.layout import DeviceSpec, HomeLayout
from simulators.stimuli import WireMessage
from simulators.z2m import iso_ms
from telecare.vocabulary import DeviceType, EventKind

SCHEMA = "telecare.event/1"
_TEMPERATURE_STEP = 0.5
_APPLIANCE_ON_W = 10.0
# field -> kind for boolean alarm fields whose false is the restore.
_ALARM_FIELDS = {
    "water_leak": EventKind.FLOOD,
    "battery_low": EventKind.BATTERY_LOW,
    "tamper": EventKind.TAMPER,
    "carbon_monoxide": EventKind.CO,
}
_MATS = {DeviceType.BED_SENSOR, DeviceType.MAT, DeviceType.CHAIR_SENSOR}


class CanonicalHub(HubEmulator):
    """A dedicated telecare hub: one canonical event per meaningful change, its status retained."""

    def __init__(
        self,
        *,
        layout: HomeLayout,
        live_from: float,
        seed: str,
        base_topic: str = "telecare/v1",
        clear_after_s: float = 90.0,
    ) -> None:
        super().__init__(layout=layout, live_from=live_from, seed=seed, clear_after_s=clear_after_s)
        self.topic = f"{base_topic}/{layout.hub_id}/events"
        self.status_topic = f"{base_topic}/{layout.hub_id}/status"
        self.sequence = 0
        self.emitted_temperature: dict[str, float] = {}
        self.emitted_power: dict[str, float] = {}

    def _event(
        self,
        *,
        time: float,
        spec: DeviceSpec,
        kind: EventKind,
        restore: bool = False,
        value: float | None = None,
    ) -> WireMessage:
        self.sequence += 1
        body: dict[str, object] = {
            "schema": SCHEMA,
            "event_id": f"{self.layout.hub_id}-{self.sequence:08d}",
            "time": iso_ms(time),
            "device": {
                "id": spec.friendly_name.replace(" ", "_"),
                "type": spec.type.value,
                "location": spec.location.value,
            },
            "kind": kind.value,
            "restore": restore,
            "value": value,
        }
        if spec.friendly_name in self.battery:
            body["battery"] = self.battery[spec.friendly_name]
        return WireMessage(time, self.topic, orjson.dumps(body))

    def bridge_messages(self, *, time: float, online: bool) -> list[WireMessage]:
        """Retained hub status: the hub's last will when it goes away."""
        status = {"state": "online" if online else "offline", "mains": True}
        return [WireMessage(time, self.status_topic, orjson.dumps(status), True)]

    def availability_message(self, *, time: float, spec: DeviceSpec, online: bool) -> list[WireMessage]:
        """`device_offline`, or its restore."""
        return [self._event(time=time, spec=spec, kind=EventKind.DEVICE_OFFLINE, restore=online)]

    def state_message(
        self, *, time: float, spec: DeviceSpec, changed: dict[str, object], transient: dict[str, object]
    ) -> list[WireMessage]:
        """The canonical events one device report means."""
        out: list[WireMessage] = []
        name = spec.friendly_name
        action = transient.get("action")
        if action == "emergency":
            out.append(self._event(time=time, spec=spec, kind=EventKind.PERSONAL_TRIGGER))
        elif action == "vibration":
            out.append(self._event(time=time, spec=spec, kind=EventKind.VIBRATION))
        for field, value in changed.items():
            out += self._field_events(time=time, spec=spec, field=field, value=value)
        # A repeated detection while still occupied is not a new motion event: only edges are sent.
        temperature = self.state[name].get("temperature")
        if isinstance(temperature, float) and abs(
            temperature - self.emitted_temperature.get(name, -99.0)
        ) >= (_TEMPERATURE_STEP):
            self.emitted_temperature[name] = temperature
            out.append(self._event(time=time, spec=spec, kind=EventKind.TEMPERATURE, value=temperature))
        return out

    def _field_events(self, *, time: float, spec: DeviceSpec, field: str, value: object) -> list[WireMessage]:
        if field == "occupancy" and value is True:
            return [self._event(time=time, spec=spec, kind=EventKind.MOTION)]
        if field in {"pressure", "contact"} and spec.type in _MATS:
            chair = spec.type is DeviceType.CHAIR_SENSOR
            kind = (
                (EventKind.CHAIR_OCCUPIED if chair else EventKind.BED_OCCUPIED)
                if value
                else (EventKind.CHAIR_VACATED if chair else EventKind.BED_VACATED)
            )
            return [self._event(time=time, spec=spec, kind=kind)]
        if field == "contact":
            kind = EventKind.DOOR_CLOSED if value else EventKind.DOOR_OPEN
            return [self._event(time=time, spec=spec, kind=kind)]
        if field in _ALARM_FIELDS:
            return [self._event(time=time, spec=spec, kind=_ALARM_FIELDS[field], restore=not value)]
        if field == "smoke":
            testing = self.state[spec.friendly_name].get("test") is True
            if testing and value:
                return [self._event(time=time, spec=spec, kind=EventKind.SMOKE_TEST)]
            if not testing:
                return [self._event(time=time, spec=spec, kind=EventKind.SMOKE, restore=not value)]
            return []
        if field == "fall_down_status":
            return [self._event(time=time, spec=spec, kind=EventKind.FALL, restore=value != "fall")]
        if field == "power" and isinstance(value, int | float):
            before = self.emitted_power.get(spec.friendly_name, 0.0)
            self.emitted_power[spec.friendly_name] = float(value)
            out = [self._event(time=time, spec=spec, kind=EventKind.POWER, value=float(value))]
            if (value >= _APPLIANCE_ON_W) != (before >= _APPLIANCE_ON_W):
                kind = EventKind.APPLIANCE_ON if value >= _APPLIANCE_ON_W else EventKind.APPLIANCE_OFF
                out.append(self._event(time=time, spec=spec, kind=kind))
            return out
        if field == "battery" and isinstance(value, int):
            return [self._event(time=time, spec=spec, kind=EventKind.BATTERY, value=float(value))]
        return []
