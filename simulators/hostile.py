"""A corpus of malformed and hostile MQTT payloads, each with the dead-letter reason it must get.

Used by the ingest tests and the hostile-input benchmark: bad input must be dead-lettered with a precise
reason while the good messages around it are stored and the worker keeps running.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class HostileMessage:
    """One bad message and the dead-letter reason the service must give it."""

    topic: str
    payload: bytes
    reason: str
    what: str


def _j(value: object) -> bytes:
    return orjson.dumps(value)


def hostile_corpus(*, z2m_hub: str, canonical_hub: str, pir: str, door: str) -> list[HostileMessage]:
    """At least 50 distinct bad messages aimed at a registered Z2M hub and canonical hub."""
    pir_topic = f"z2m/{z2m_hub}/{pir}"
    door_topic = f"z2m/{z2m_hub}/{door}"
    events = f"telecare/v1/{canonical_hub}/events"
    good_canonical = {
        "schema": "telecare.event/1", "event_id": "x-1", "time": "2026-01-01T00:00:00Z",
        "device": {"id": "pendant", "type": "personal_trigger", "location": "bedroom"},
        "kind": "personal_trigger",
    }

    def canonical(**changes: object) -> bytes:
        payload = {**good_canonical, **changes}
        return _j({key: value for key, value in payload.items() if value is not ...})

    corpus = [
        HostileMessage(pir_topic, b"{", "invalid_json", "truncated JSON"),
        HostileMessage(pir_topic, b"not json at all", "invalid_json", "plain text"),
        HostileMessage(pir_topic, b'{"occupancy": tru}', "invalid_json", "bad literal"),
        HostileMessage(pir_topic, b"\xff\xfe\x00\x01", "invalid_json", "binary garbage"),
        HostileMessage(pir_topic, b'{"occupancy": true}x', "invalid_json", "trailing garbage"),
        HostileMessage(pir_topic, b'{"temperature": NaN}', "invalid_json", "NaN is not JSON"),
        HostileMessage(pir_topic, b"[" * 5000 + b"]" * 5000, "invalid_json", "nesting bomb"),
        HostileMessage(pir_topic, b'{"occupancy": true, "occupancy": "x"', "invalid_json", "unterminated"),
        HostileMessage(pir_topic, b"[]", "invalid_payload", "array instead of object"),
        HostileMessage(pir_topic, b"42", "invalid_payload", "number instead of object"),
        HostileMessage(pir_topic, b'"occupied"', "invalid_payload", "string instead of object"),
        HostileMessage(pir_topic, b"null", "invalid_payload", "null instead of object"),
        HostileMessage(pir_topic, b"true", "invalid_payload", "boolean instead of object"),
        HostileMessage(pir_topic, _j({"occupancy": "yes"}), "invalid_payload", "occupancy as string"),
        HostileMessage(door_topic, _j({"contact": 1}), "invalid_payload", "contact as number"),
        HostileMessage(pir_topic, _j({"battery": "100"}), "invalid_payload", "battery as string"),
        HostileMessage(pir_topic, _j({"battery": 101}), "invalid_payload", "battery over 100"),
        HostileMessage(pir_topic, _j({"battery": -1}), "invalid_payload", "battery negative"),
        HostileMessage(pir_topic, _j({"battery": True}), "invalid_payload", "battery as boolean"),
        HostileMessage(pir_topic, _j({"temperature": 500}), "invalid_payload", "temperature 500 degC"),
        HostileMessage(pir_topic, _j({"temperature": "hot"}), "invalid_payload", "temperature as text"),
        HostileMessage(pir_topic, _j({"power": -5}), "invalid_payload", "negative power"),
        HostileMessage(pir_topic, _j({"linkquality": 9999}), "invalid_payload", "linkquality out of range"),
        HostileMessage(pir_topic, _j({"action": 5}), "invalid_payload", "action as number"),
        HostileMessage(pir_topic, _j({"action": "x" * 500}), "invalid_payload", "action too long"),
        HostileMessage(pir_topic, _j({"smoke": "true"}), "invalid_payload", "smoke as string"),
        HostileMessage(pir_topic, _j({"__emitted_temperature": 1}), "invalid_payload", "reserved field"),
        HostileMessage(pir_topic, _j({"occupancy": True, "last_seen": True}), "invalid_payload",
                       "last_seen as boolean"),
        HostileMessage(pir_topic, _j({"occupancy": True, "last_seen": "yesterday"}), "invalid_payload",
                       "last_seen not a date"),
        HostileMessage(pir_topic, _j({"occupancy": True, "last_seen": "2026-01-01T00:00:00"}), "invalid_payload",
                       "last_seen without offset"),
        HostileMessage(pir_topic, _j({"occupancy": True, "last_seen": {"a": 1}}), "invalid_payload",
                       "last_seen as object"),
        HostileMessage(pir_topic, _j({"occupancy": True, "last_seen": "2100-01-01T00:00:00Z"}),
                       "timestamp_out_of_range", "last_seen in 2100"),
        HostileMessage(pir_topic, _j({"occupancy": True, "last_seen": "2001-01-01T00:00:00Z"}),
                       "timestamp_out_of_range", "last_seen in 2001"),
        HostileMessage(pir_topic, _j({"occupancy": True, "last_seen": 0}), "timestamp_out_of_range",
                       "last_seen epoch zero"),
        HostileMessage(pir_topic, b'{"pad": "' + b"A" * 20_000 + b'"}', "payload_too_large", "20 kB payload"),
        HostileMessage(pir_topic, b"{" + b" " * 1_000_000 + b"}", "payload_too_large", "1 MB payload"),
        HostileMessage(f"z2m/{z2m_hub}/ghost sensor", _j({"occupancy": True}), "unknown_device", "unknown device"),
        HostileMessage(f"z2m/{z2m_hub}/ghost/availability", _j({"state": "online"}), "unknown_device",
                       "availability of an unknown device"),
        HostileMessage(f"z2m/no-such-hub/{pir}", _j({"occupancy": True}), "unknown_hub", "unknown hub"),
        HostileMessage("telecare/v1/no-such-hub/events", canonical(), "unknown_hub", "canonical unknown hub"),
        HostileMessage(f"telecare/v1/{canonical_hub}/whatever", canonical(), "unknown_topic", "unknown subtopic"),
        HostileMessage(f"z2m/{z2m_hub}", _j({"occupancy": True}), "unknown_topic", "no device in topic"),
        HostileMessage(f"z2m/{z2m_hub}/bridge/devices", _j({"not": "a list"}), "invalid_payload",
                       "bridge/devices not a list"),
        HostileMessage(f"z2m/{z2m_hub}/{pir}/availability", _j({"state": "sleeping"}), "invalid_payload",
                       "availability state unknown"),
        HostileMessage(f"z2m/{z2m_hub}/bridge/state", _j({"state": 1}), "invalid_payload", "bridge state as number"),
        HostileMessage(events, canonical(schema="telecare.event/2"), "invalid_payload", "wrong schema version"),
        HostileMessage(events, canonical(kind=...), "invalid_payload", "kind missing"),
        HostileMessage(events, canonical(kind="explosion"), "invalid_payload", "unknown kind"),
        HostileMessage(events, canonical(kind=7), "invalid_payload", "kind as number"),
        HostileMessage(events, canonical(device={"id": "p", "type": "toaster"}), "invalid_payload",
                       "unknown device type"),
        HostileMessage(events, canonical(device={"id": "x'); DROP TABLE events;--", "type": "pir"}),
                       "invalid_payload", "SQL in device id"),
        HostileMessage(events, canonical(device={"id": "<script>alert(1)</script>", "type": "pir"}),
                       "invalid_payload", "HTML in device id"),
        HostileMessage(events, canonical(extra="field"), "invalid_payload", "unexpected field"),
        HostileMessage(events, canonical(kind="motion", restore=True), "invalid_payload", "restore of motion"),
        HostileMessage(events, canonical(kind="temperature", value=900.0,
                                         device={"id": "t", "type": "temperature"}),
                       "invalid_payload", "temperature out of range"),
        HostileMessage(events, canonical(kind="temperature", value=None, device={"id": "t", "type": "temperature"}),
                       "invalid_payload", "temperature without value"),
        HostileMessage(events, canonical(event_id="e" * 65), "invalid_payload", "event id too long"),
        HostileMessage(events, canonical(event_id=""), "invalid_payload", "empty event id"),
        HostileMessage(events, canonical(time="2026-01-01T00:00:00"), "invalid_payload", "time without offset"),
        HostileMessage(events, canonical(time="1990-01-01T00:00:00Z"), "timestamp_out_of_range", "time in 1990"),
        HostileMessage(events, canonical(time="2200-01-01T00:00:00Z", kind="motion",
                                         device={"id": "pir", "type": "pir"}),
                       "timestamp_out_of_range", "motion in 2200"),
        HostileMessage(events, canonical(battery=300), "invalid_payload", "battery 300"),
        HostileMessage(events, canonical(restore="yes"), "invalid_payload", "restore as string"),
        HostileMessage(events, b'{"schema": "telecare.event/1"', "invalid_json", "truncated canonical"),
        HostileMessage(events, _j([good_canonical]), "invalid_payload", "canonical as a list"),
        HostileMessage(f"telecare/v1/{canonical_hub}/status", _j({"state": "on fire"}), "invalid_payload",
                       "hub status unknown"),
    ]
    return corpus
