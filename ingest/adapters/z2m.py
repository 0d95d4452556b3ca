"""Zigbee2MQTT topics: device state, availability, the bridge's device list and the bridge's state."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from ingest.adapters.z2m_fields import ALARM_KINDS, MAX_STATE_FIELDS, EventDraft, state_events, validate_state
from ingest.messages import DeadLetterReason, InboundMessage, Rejected
from ingest.registry import DeviceRecord, HubRecord, Registry
from ingest.timestamps import check_event_time, parse_device_time
from telecare.events import EventSource, TelecareEvent, natural_event_key
from telecare.site import device_id_for, hub_device_id
from telecare.vocabulary import DeviceType, EventKind, Location

# definition.model -> what the device is. Models not listed fall back to what they expose.
MODEL_DEVICE_TYPES: dict[str, DeviceType] = {
    "RTCGQ11LM": DeviceType.PIR,
    "RTCGQ12LM": DeviceType.PIR,
    "RTCGQ14LM": DeviceType.PIR,
    "9290012607": DeviceType.PIR,
    "9290030675": DeviceType.PIR,
    "MCCGQ11LM": DeviceType.DOOR,
    "MCCGQ12LM": DeviceType.DOOR,
    "SJCGQ11LM": DeviceType.FLOOD,
    "HS1SA": DeviceType.SMOKE,
    "HS1SA-E": DeviceType.SMOKE,
    "HS1CA-E": DeviceType.CO,
    "TS0215A_sos": DeviceType.PERSONAL_TRIGGER,
    "WXKG11LM": DeviceType.BUTTON,
    "MIR-HE200-TY": DeviceType.FALL_DETECTOR,
    "RTCZCGQ11LM": DeviceType.PRESENCE,
    "SPM915": DeviceType.BED_SENSOR,
    "DJT11LM": DeviceType.VIBRATION,
    "WSDCGQ11LM": DeviceType.TEMPERATURE,
    "WSDCGQ01LM": DeviceType.TEMPERATURE,
    "ZNCZ02LM": DeviceType.PLUG,
    "TS011F_plug_1": DeviceType.PLUG,
}
# Exposed property -> device type, in order of precedence, for models not in the table above.
_EXPOSE_DEVICE_TYPES: tuple[tuple[str, DeviceType], ...] = (
    ("smoke", DeviceType.SMOKE),
    ("carbon_monoxide", DeviceType.CO),
    ("gas", DeviceType.GAS),
    ("water_leak", DeviceType.FLOOD),
    ("fall_down_status", DeviceType.FALL_DETECTOR),
    ("presence", DeviceType.PRESENCE),
    ("occupancy", DeviceType.PIR),
    ("contact", DeviceType.DOOR),
    ("vibration", DeviceType.VIBRATION),
    ("power", DeviceType.PLUG),
    ("temperature", DeviceType.TEMPERATURE),
    ("action", DeviceType.BUTTON),
)
_AVAILABILITY_SUFFIX = "/availability"
_STATE_TIME = "__last_seen"  # device time of the state last applied, kept in last_state
_CHECK_IN_TIME = "__check_in"  # device time of the last check-in event stored, kept in last_state
# A report that changes nothing is stored as a check-in at most this often (device time): silence judged
# from stored history (`telecare rules replay`) is then at most this much earlier than live, and a
# device that chatters unchanged state every few seconds still adds at most six rows an hour.
CHECK_IN_EVERY_S = 10 * 60


def _decode_object(payload: bytes) -> dict[str, Any]:
    try:
        decoded = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise Rejected(DeadLetterReason.INVALID_JSON, f"not JSON: {exc.msg} at {exc.pos}") from exc
    if not isinstance(decoded, dict):
        raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"expected a JSON object, got {type(decoded).__name__}")
    return decoded


def _online_state(payload: bytes) -> str | None:
    """'online' / 'offline' from a Z2M 2.x JSON or 1.x plain availability payload; None when removed."""
    text = payload.strip()
    if not text:
        return None
    if text in (b"online", b"offline"):
        return text.decode()
    state = _decode_object(payload).get("state")
    if state not in ("online", "offline"):
        raise Rejected(DeadLetterReason.INVALID_PAYLOAD, "availability 'state' must be online or offline")
    return str(state)


def infer_device_type(*, model: str | None, exposes: list[Any]) -> DeviceType | None:
    """What a newly paired device is, from its model or the properties it exposes."""
    if model and model in MODEL_DEVICE_TYPES:
        return MODEL_DEVICE_TYPES[model]
    names: set[str] = set()
    stack: list[Any] = list(exposes)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("property"), str):
                names.add(item["property"])
            features = item.get("features")
            if isinstance(features, list):
                stack.extend(features)
    for property_name, device_type in _EXPOSE_DEVICE_TYPES:
        if property_name in names:
            return device_type
    return None


class Z2MAdapter:
    """Turns messages under `<base>/<hub_id>/...` into events and registry changes."""

    def __init__(self, *, registry: Registry, future_skew: timedelta, max_age: timedelta) -> None:
        self._registry = registry
        self._future_skew = future_skew
        self._max_age = max_age

    def handle(self, *, message: InboundMessage, hub: HubRecord, rest: str) -> list[TelecareEvent]:
        """Events produced by one message whose topic, after the hub id, is `rest`."""
        device = self._registry.device(hub_id=hub.hub_id, friendly_name=rest)
        if device is not None:
            return self._state(message=message, hub=hub, device=device)
        if rest.endswith(_AVAILABILITY_SUFFIX):
            name = rest[: -len(_AVAILABILITY_SUFFIX)]
            device = self._registry.device(hub_id=hub.hub_id, friendly_name=name)
            if device is not None:
                return self._availability(message=message, hub=hub, device=device)
        if rest == "bridge/state":
            return self._bridge_state(message=message, hub=hub)
        if rest == "bridge/devices":
            self._bridge_devices(message=message, hub=hub)
            return []
        if rest.startswith("bridge/") or rest.endswith(("/set", "/get")) or "/set/" in rest:
            return []
        raise Rejected(DeadLetterReason.UNKNOWN_DEVICE, f"no device named {rest!r} on hub {hub.hub_id!r}")

    def _event_time(self, *, message: InboundMessage, state: dict[str, Any]) -> tuple[datetime, bool]:
        raw = state.get("last_seen")
        if raw is None:
            return message.received_at, True
        event_time = parse_device_time(raw=raw, field_name="last_seen")
        too_far_ahead = check_event_time(
            event_time=event_time, received_at=message.received_at,
            future_skew=self._future_skew, max_age=self._max_age,
        )
        if too_far_ahead:
            return message.received_at, True
        return event_time, False

    def _state(self, *, message: InboundMessage, hub: HubRecord, device: DeviceRecord) -> list[TelecareEvent]:
        if message.payload.strip() == b"":
            return []
        state = _decode_object(message.payload)
        validate_state(state=state)
        event_time, from_arrival = self._event_time(message=message, state=state)
        clock_wrong = from_arrival and "last_seen" in state
        previous = device.last_state
        stamped_before = previous.get(_STATE_TIME)
        if not from_arrival and isinstance(stamped_before, float) and event_time.timestamp() < stamped_before:
            # Older than the state already applied: a publisher's resend after a reconnect. Applying it
            # would roll the state back and turn the next real change into a non-edge.
            return []
        drafts = state_events(device_type=device.device_type, previous=previous, current=state, event_time=event_time)
        if clock_wrong:
            dropped = [draft for draft in drafts if draft.kind not in ALARM_KINDS]
            if dropped:
                # Only alarms are kept at arrival time; anything else with a wrong clock is not evidence.
                raise Rejected(
                    DeadLetterReason.TIMESTAMP_OUT_OF_RANGE,
                    f"last_seen {state['last_seen']!r} is more than {self._future_skew} ahead of arrival",
                )
        merged = {**previous, **state}
        merged.pop("last_seen", None)
        if len(merged) > MAX_STATE_FIELDS:
            raise Rejected(DeadLetterReason.INVALID_PAYLOAD,
                           f"the device's state would have more than {MAX_STATE_FIELDS} fields")
        if not from_arrival:
            merged[_STATE_TIME] = event_time.timestamp()
            checked_in = previous.get(_CHECK_IN_TIME)
            if drafts or not isinstance(checked_in, float) or event_time.timestamp() - checked_in >= CHECK_IN_EVERY_S:
                merged[_CHECK_IN_TIME] = event_time.timestamp()
                if not drafts:
                    drafts = [EventDraft(kind=EventKind.CHECK_IN)]
        device.last_state = merged
        # Heard at the device's own time when it says one: silence is judged on device time, so a
        # backlog delivered late (a broker queue drained after an outage) does not look like live contact.
        _note_seen(device=device, hub=hub, state=state, seen_at=message.received_at if from_arrival else event_time)
        return [self._event(hub=hub, device_id=device.device_id, draft=draft, time=event_time,
                            received_at=message.received_at, from_arrival=from_arrival) for draft in drafts]

    def _availability(self, *, message: InboundMessage, hub: HubRecord, device: DeviceRecord) -> list[TelecareEvent]:
        state = _online_state(message.payload)
        if state is None:
            device.removed = True
            device.dirty = True
            return []
        previous = device.availability
        device.availability = state
        device.dirty = True
        if previous == state or (previous is None and state == "online"):
            return []
        draft = EventDraft(kind=EventKind.DEVICE_OFFLINE, is_restore=state == "online")
        return [self._event(hub=hub, device_id=device.device_id, draft=draft, time=message.received_at,
                            received_at=message.received_at, from_arrival=True)]

    def _bridge_state(self, *, message: InboundMessage, hub: HubRecord) -> list[TelecareEvent]:
        state = _online_state(message.payload)
        if state is None:
            return []
        previous = hub.bridge_state
        hub.bridge_state = state
        hub.dirty = True
        if previous == state or (previous is None and state == "online"):
            return []
        draft = EventDraft(kind=EventKind.HUB_OFFLINE, is_restore=state == "online")
        return [self._event(hub=hub, device_id=hub_device_id(hub_id=hub.hub_id), draft=draft, time=message.received_at,
                            received_at=message.received_at, from_arrival=True)]

    def _bridge_devices(self, *, message: InboundMessage, hub: HubRecord) -> None:
        try:
            listed = orjson.loads(message.payload)
        except orjson.JSONDecodeError as exc:
            raise Rejected(DeadLetterReason.INVALID_JSON, f"bridge/devices is not JSON: {exc.msg}") from exc
        if not isinstance(listed, list):
            raise Rejected(DeadLetterReason.INVALID_PAYLOAD, "bridge/devices must be a JSON array")
        by_ieee = {
            record.ieee_address: record
            for record in self._registry.devices.values()
            if record.hub_id == hub.hub_id and record.ieee_address
        }
        for name, ieee, entry in _listed_devices(listed):
            raw_definition = entry.get("definition")
            definition: dict[str, Any] = raw_definition if isinstance(raw_definition, dict) else {}
            model = definition.get("model") if isinstance(definition.get("model"), str) else None
            record = by_ieee.get(ieee) or self._registry.devices.get((hub.hub_id, name))
            if record is None:
                raw_exposes = definition.get("exposes")
                exposes: list[Any] = raw_exposes if isinstance(raw_exposes, list) else []
                device_type = infer_device_type(model=model, exposes=exposes)
                if device_type is None:
                    continue
                record = DeviceRecord(
                    device_id=device_id_for(hub_id=hub.hub_id, friendly_name=name), hub_id=hub.hub_id,
                    friendly_name=name, ieee_address=ieee, device_type=device_type.value,
                    location=Location.OTHER.value, model=model, last_state={}, last_seen=None, battery=None,
                    battery_low=None, availability=None, is_new=True, dirty=True,
                )
                self._registry.add_device(record)
            elif record.friendly_name != name:
                self._registry.rename_device(record=record, new_name=name)
            record.ieee_address = ieee
            record.model = model or record.model
            vendor = definition.get("vendor")
            record.vendor = vendor if isinstance(vendor, str) else record.vendor
            power = entry.get("power_source")
            record.power_source = power if isinstance(power, str) else record.power_source
            record.removed = False
            record.dirty = True

    @staticmethod
    def _event(*, hub: HubRecord, device_id: str, draft: EventDraft, time: datetime, received_at: datetime,
               from_arrival: bool) -> TelecareEvent:
        return TelecareEvent(
            time=time,
            received_at=received_at,
            event_key=natural_event_key(hub_id=hub.hub_id, device_id=device_id, kind=draft.kind.value,
                                        is_restore=draft.is_restore, time=time),
            hub_id=hub.hub_id,
            device_id=device_id,
            kind=draft.kind,
            is_restore=draft.is_restore,
            value=draft.value,
            source=EventSource.Z2M,
            time_from_arrival=from_arrival,
        )


_MAX_NAME = 255


def _listed_devices(listed: list[Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(friendly name, IEEE address, entry) of each end device, after checking the list as a whole.

    A name or address listed twice would make one device's messages land on another's record (which
    one wins is an accident of order), so such a list is refused whole, before anything is applied.
    """
    devices: list[tuple[str, str, dict[str, Any]]] = []
    names: dict[str, str] = {}
    addresses: set[str] = set()
    for entry in listed:
        if not isinstance(entry, dict) or entry.get("type") == "Coordinator":
            continue
        name, ieee = entry.get("friendly_name"), entry.get("ieee_address")
        if not isinstance(name, str) or not name or not isinstance(ieee, str):
            continue
        if len(name) > _MAX_NAME or len(ieee) > _MAX_NAME or "\x00" in name + ieee:
            raise Rejected(DeadLetterReason.INVALID_PAYLOAD,
                           f"bridge/devices: friendly_name or ieee_address of {name[:40]!r} is not usable")
        if name in names:
            raise Rejected(DeadLetterReason.INVALID_PAYLOAD,
                           f"bridge/devices lists friendly_name {name!r} twice ({names[name]} and {ieee})")
        if ieee in addresses:
            raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"bridge/devices lists ieee_address {ieee!r} twice")
        names[name] = ieee
        addresses.add(ieee)
        devices.append((name, ieee, entry))
    return devices


def _note_seen(*, device: DeviceRecord, hub: HubRecord, state: dict[str, Any], seen_at: datetime) -> None:
    device.last_seen = seen_at
    battery = state.get("battery")
    if isinstance(battery, int | float) and not isinstance(battery, bool):
        device.battery = int(battery)
    if isinstance(state.get("battery_low"), bool):
        device.battery_low = state["battery_low"]
    device.dirty = True
    hub.last_seen = seen_at
    hub.dirty = True
