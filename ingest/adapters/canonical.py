"""The project's canonical telecare event (`telecare.event/1`) and hub status messages."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from ingest.adapters.z2m_fields import ALARM_KINDS
from ingest.messages import DeadLetterReason, InboundMessage, Rejected
from ingest.registry import DeviceRecord, HubRecord, Registry
from ingest.timestamps import check_event_time, parse_device_time
from telecare.events import EventSource, TelecareEvent, natural_event_key
from telecare.site import HUB_DEVICE_NAME, device_id_for, hub_device_id
from telecare.vocabulary import RESTORABLE_KINDS, DeviceType, EventKind, Location

SCHEMA_V1 = "telecare.event/1"
_Model = TypeVar("_Model", bound=BaseModel)
_VALUE_RANGES: dict[EventKind, tuple[float, float]] = {
    EventKind.TEMPERATURE: (-40, 125),
    EventKind.POWER: (0, 10_000),
    EventKind.BATTERY: (0, 100),
    EventKind.PRESENCE: (0, 1),
}


class CanonicalDevice(BaseModel):
    """The device block of a canonical event."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]
    type: DeviceType
    location: Location = Location.OTHER


class CanonicalEvent(BaseModel):
    """A telecare event as hubs and simulators publish it; see docs/mqtt-contract.md.

    Strict: no `true` or `"87"` for a number, no number for a flag, no NaN or infinity (`1e999`), and a
    time is ISO 8601 text or epoch milliseconds as a number, never digits in a string.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    schema_: Literal["telecare.event/1"] = Field(alias="schema")
    event_id: Annotated[str, Field(min_length=1, max_length=64)]
    time: Annotated[str, Field(min_length=10, max_length=40)] | Annotated[int, Field(ge=10**12, lt=10**14)]
    device: CanonicalDevice
    kind: EventKind
    restore: StrictBool = False
    value: float | None = None
    battery: Annotated[int, Field(ge=0, le=100)] | None = None

    def event_time(self) -> datetime:
        """The event time as an aware UTC datetime."""
        return parse_device_time(raw=self.time, field_name="time")


class HubStatus(BaseModel):
    """A canonical hub's retained status (its last will says offline)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    state: Literal["online", "offline"]
    mains: StrictBool | None = None


def _validation_detail(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    return f"{where}: {first['msg']}"


def _validated(model: type[_Model], payload: bytes) -> _Model:
    """The payload read as `model`; not JSON is `invalid_json`, anything else wrong `invalid_payload`."""
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise Rejected(DeadLetterReason.INVALID_JSON, _validation_detail(exc)) from exc
        # Pydantic's parser takes NaN, Infinity and 1e999, which are not JSON numbers: refused as not
        # JSON here too, as on every other topic (checked only on this failure path, off the hot one).
        try:
            orjson.loads(payload)
        except orjson.JSONDecodeError as not_json:
            raise Rejected(DeadLetterReason.INVALID_JSON, f"not JSON: {not_json.msg} at {not_json.pos}") from exc
        raise Rejected(DeadLetterReason.INVALID_PAYLOAD, _validation_detail(exc)) from exc


class CanonicalAdapter:
    """Turns messages under `<canonical base>/<hub_id>/...` into events."""

    def __init__(self, *, registry: Registry, future_skew: timedelta, max_age: timedelta) -> None:
        self._registry = registry
        self._future_skew = future_skew
        self._max_age = max_age

    def handle(self, *, message: InboundMessage, hub: HubRecord, rest: str) -> list[TelecareEvent]:
        """Events produced by one message whose topic, after the hub id, is `rest`."""
        if rest == "events":
            return self._event(message=message, hub=hub)
        if rest == "status":
            return self._status(message=message, hub=hub)
        raise Rejected(DeadLetterReason.UNKNOWN_TOPIC, f"no canonical topic {rest!r} (expected events or status)")

    def _event(self, *, message: InboundMessage, hub: HubRecord) -> list[TelecareEvent]:
        parsed = _validated(CanonicalEvent, message.payload)
        if parsed.restore and parsed.kind not in RESTORABLE_KINDS:
            raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"kind {parsed.kind.value!r} has no restore")
        value_range = _VALUE_RANGES.get(parsed.kind)
        if value_range is not None and (parsed.value is None or not value_range[0] <= parsed.value <= value_range[1]):
            raise Rejected(
                DeadLetterReason.INVALID_PAYLOAD,
                f"value for {parsed.kind.value!r} must be within {value_range[0]}..{value_range[1]}",
            )
        event_time = parsed.event_time()
        from_arrival = check_event_time(
            event_time=event_time, received_at=message.received_at,
            future_skew=self._future_skew, max_age=self._max_age,
        )
        if from_arrival:
            if parsed.kind not in ALARM_KINDS:
                raise Rejected(
                    DeadLetterReason.TIMESTAMP_OUT_OF_RANGE,
                    f"time {event_time.isoformat()} is more than {self._future_skew} ahead of arrival",
                )
            event_time = message.received_at
        device = self._device(hub=hub, declared=parsed.device, seen_at=message.received_at)
        if parsed.battery is not None:
            device.battery = parsed.battery
        device.dirty = True
        hub.last_seen = message.received_at
        hub.dirty = True
        return [
            TelecareEvent(
                time=event_time,
                received_at=message.received_at,
                # The hub's own event id makes the key: a redelivery is the same event.
                event_key=natural_event_key(hub_id=hub.hub_id, device_id=device.device_id,
                                            kind=parsed.kind.value, is_restore=parsed.restore,
                                            time=parsed.event_time(), discriminator=parsed.event_id),
                hub_id=hub.hub_id,
                device_id=device.device_id,
                kind=parsed.kind,
                is_restore=parsed.restore,
                value=parsed.value,
                source=EventSource.CANONICAL,
                time_from_arrival=from_arrival,
            )
        ]

    def _device(self, *, hub: HubRecord, declared: CanonicalDevice, seen_at: datetime) -> DeviceRecord:
        device = self._registry.device(hub_id=hub.hub_id, friendly_name=declared.id)
        if device is None:
            # Canonical events describe their device, so a new one is registered on first sight.
            device = DeviceRecord(
                device_id=device_id_for(hub_id=hub.hub_id, friendly_name=declared.id), hub_id=hub.hub_id,
                friendly_name=declared.id, ieee_address=None, device_type=declared.type.value,
                location=declared.location.value, model=None, last_state={}, last_seen=None, battery=None,
                battery_low=None, availability=None, is_new=True,
            )
            self._registry.add_device(device)
        device.last_seen = seen_at
        return device

    def _status(self, *, message: InboundMessage, hub: HubRecord) -> list[TelecareEvent]:
        if not message.payload.strip():
            return []
        status = _validated(HubStatus, message.payload)
        events: list[TelecareEvent] = []
        device_id = hub_device_id(hub_id=hub.hub_id)
        if status.state != hub.bridge_state and not (hub.bridge_state is None and status.state == "online"):
            events.append(self._hub_event(message=message, hub=hub, device_id=device_id,
                                          kind=EventKind.HUB_OFFLINE, restore=status.state == "online"))
        hub.bridge_state = status.state
        hub.dirty = True
        if status.mains is not None:
            device = self._registry.device(hub_id=hub.hub_id, friendly_name=HUB_DEVICE_NAME)
            previous_mains = None if device is None else device.last_state.get("mains")
            if device is None:
                hub_itself = CanonicalDevice.model_construct(id=HUB_DEVICE_NAME, type=DeviceType.HUB,
                                                             location=Location.OTHER)
                device = self._device(hub=hub, declared=hub_itself,
                                      seen_at=message.received_at)
            if status.mains != previous_mains and not (previous_mains is None and status.mains):
                events.append(self._hub_event(message=message, hub=hub, device_id=device.device_id,
                                              kind=EventKind.MAINS_FAIL, restore=status.mains))
            device.last_state = {**device.last_state, "mains": status.mains}
            device.dirty = True
        return events

    @staticmethod
    def _hub_event(*, message: InboundMessage, hub: HubRecord, device_id: str, kind: EventKind,
                   restore: bool) -> TelecareEvent:
        return TelecareEvent(
            time=message.received_at, received_at=message.received_at,
            event_key=natural_event_key(hub_id=hub.hub_id, device_id=device_id, kind=kind.value,
                                        is_restore=restore, time=message.received_at),
            hub_id=hub.hub_id, device_id=device_id, kind=kind, is_restore=restore, value=None,
            source=EventSource.CANONICAL, time_from_arrival=True,
        )
