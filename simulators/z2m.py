"""Zigbee2MQTT as real hubs speak it: whole cached state, retained device list and availability."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import orjson

from simulators.emulator import HubEmulator
from simulators.layout import DeviceSpec, HomeLayout
from simulators.stimuli import WireMessage

LastSeen = Literal["none", "iso", "epoch"]
AvailabilityStyle = Literal["json", "plain", "none"]

_ACTION_VALUES: dict[str, list[str]] = {
    "TS0215A_sos": ["emergency"],
    "DJT11LM": ["vibration", "tilt", "drop"],
}


@dataclass(frozen=True, slots=True)
class Z2mOptions:
    """How the emulated bridge is configured (Z2M's own settings of the same names)."""

    base_topic: str = "z2m"
    # `last_seen` in every state message: Z2M's `advanced.last_seen` ISO_8601 or epoch (ms).
    last_seen: LastSeen = "iso"
    # 2.x publishes `{"state":"online"}`; 1.x published plain `online`.
    availability: AvailabilityStyle = "json"


def iso_ms(time: float) -> str:
    """ISO 8601 in UTC with milliseconds, as Z2M's ISO_8601 last_seen writes it."""
    return datetime.fromtimestamp(time, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def battery_voltage_mv(battery: int) -> int:
    """A CR2032/CR2450 cell's voltage for a battery percentage (Aqara reports both)."""
    return 2500 + battery * 8


def _expose(field: str, value: object) -> dict[str, object]:
    if isinstance(value, bool):
        return {
            "type": "binary",
            "name": field,
            "property": field,
            "access": 1,
            "value_on": True,
            "value_off": False,
        }
    if isinstance(value, int | float):
        return {"type": "numeric", "name": field, "property": field, "access": 1}
    return {"type": "enum", "name": field, "property": field, "access": 1, "values": [value]}


def device_entry(spec: DeviceSpec) -> dict[str, object]:
    """The device's entry in `bridge/devices` as Z2M 2.x publishes it."""
    model = spec.definition
    exposes = [_expose(field, value) for field, value in model.initial_state]
    if spec.model in _ACTION_VALUES:
        exposes.append(
            {
                "type": "enum",
                "name": "action",
                "property": "action",
                "access": 1,
                "values": _ACTION_VALUES[spec.model],
            }
        )
    if model.battery:
        exposes.append(
            {
                "type": "numeric",
                "name": "battery",
                "property": "battery",
                "access": 1,
                "unit": "%",
                "value_min": 0,
                "value_max": 100,
            }
        )
    exposes.append(
        {
            "type": "numeric",
            "name": "linkquality",
            "property": "linkquality",
            "access": 1,
            "unit": "lqi",
            "value_min": 0,
            "value_max": 255,
        }
    )
    return {
        "ieee_address": spec.ieee_address,
        "friendly_name": spec.friendly_name,
        "type": "EndDevice" if model.battery else "Router",
        "power_source": "Battery" if model.battery else "Mains (single phase)",
        "network_address": int(spec.ieee_address[-4:], 16),
        "supported": True,
        "disabled": False,
        "interview_completed": True,
        "interviewing": False,
        "definition": {
            "model": model.model,
            "vendor": model.vendor,
            "description": model.description,
            "exposes": exposes,
            "supports_ota": False,
        },
    }


class Z2mHub(HubEmulator):
    """One Zigbee2MQTT bridge with `mqtt.base_topic` set to `<base_topic>/<hub_id>`."""

    def __init__(
        self,
        *,
        layout: HomeLayout,
        live_from: float,
        seed: str,
        options: Z2mOptions,
        clear_after_s: float = 90.0,
    ) -> None:
        super().__init__(layout=layout, live_from=live_from, seed=seed, clear_after_s=clear_after_s)
        self.options = options
        self.prefix = f"{options.base_topic}/{layout.hub_id}"

    def _availability_payload(self, online: bool) -> bytes:
        word = "online" if online else "offline"
        if self.options.availability == "plain":
            return word.encode()
        return orjson.dumps({"state": word})

    def bridge_messages(self, *, time: float, online: bool) -> list[WireMessage]:
        """On start: state, device list, availability, then every cached state again (stale included)."""
        out = [WireMessage(time, f"{self.prefix}/bridge/state", self._availability_payload(online), True)]
        if not online:
            return out
        coordinator = {
            "ieee_address": "0x00124b00" + self.layout.devices[0].ieee_address[-8:],
            "friendly_name": "Coordinator",
            "type": "Coordinator",
            "network_address": 0,
            "supported": True,
            "disabled": False,
            "interview_completed": True,
            "definition": None,
        }
        entries = [coordinator] + [device_entry(spec) for spec in self.layout.devices]
        out.append(WireMessage(time, f"{self.prefix}/bridge/devices", orjson.dumps(entries), True))
        for spec in self.layout.devices:
            if spec.friendly_name not in self.muted:
                out += self.availability_message(time=time, spec=spec, online=True)
        for spec in self.layout.devices:
            if spec.friendly_name not in self.muted:
                out += self.state_message(time=time, spec=spec, changed={}, transient={})
        return out

    def availability_message(self, *, time: float, spec: DeviceSpec, online: bool) -> list[WireMessage]:
        """Retained availability in the configured style."""
        if self.options.availability == "none":
            return []
        topic = f"{self.prefix}/{spec.friendly_name}/availability"
        return [WireMessage(time, topic, self._availability_payload(online), True)]

    def state_message(
        self, *, time: float, spec: DeviceSpec, changed: dict[str, object], transient: dict[str, object]
    ) -> list[WireMessage]:
        """The whole cached state, as every Z2M state message carries it."""
        payload: dict[str, object] = dict(self.state[spec.friendly_name])
        payload.update(transient)
        name = spec.friendly_name
        if name in self.battery:
            payload["battery"] = self.battery[name]
            if spec.model in {"RTCGQ11LM", "MCCGQ11LM", "SJCGQ11LM", "WSDCGQ11LM", "DJT11LM"}:
                payload["voltage"] = battery_voltage_mv(self.battery[name])
        payload["linkquality"] = self.rng.randrange(40, 220)
        if self.options.last_seen == "iso":
            payload["last_seen"] = iso_ms(time)
        elif self.options.last_seen == "epoch":
            payload["last_seen"] = round(time * 1000)
        return [
            WireMessage(time, f"{self.prefix}/{name}", orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))
        ]
