"""The one internal event type every adapter normalises to, and its natural key."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from telecare.vocabulary import EventKind

# A fixed namespace so the same event always hashes to the same key, on any worker, in any year.
EVENT_KEY_NAMESPACE = uuid.UUID("6f1c5f0e-3c39-4d1e-9b7a-2f6c0a4e8d11")


class EventSource(StrEnum):
    """Which adapter produced the event."""

    Z2M = "z2m"
    CANONICAL = "canonical"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class TelecareEvent:
    """One thing that happened at a device, in service vocabulary, ready to store."""

    time: datetime
    received_at: datetime
    event_key: uuid.UUID
    hub_id: str
    device_id: str
    kind: EventKind
    is_restore: bool
    value: float | None
    source: EventSource
    # True when `time` is the arrival time because the device gave none or gave one not to be trusted.
    time_from_arrival: bool = False


def natural_event_key(*, hub_id: str, device_id: str, kind: str, is_restore: bool, time: datetime,
                      discriminator: str = "") -> uuid.UUID:
    """A deterministic key for an event: a redelivered message maps to the same key and is dropped.

    BLAKE2b rather than uuid5 (SHA-1): it is on the hot path of every message, and this is identity,
    not security. Microseconds since the epoch are exact in a float for any date we will see.
    """
    micros = round(time.timestamp() * 1_000_000)
    name = f"{hub_id}\x1f{device_id}\x1f{kind}\x1f{int(is_restore)}\x1f{micros}\x1f{discriminator}"
    digest = hashlib.blake2b(name.encode(), digest_size=16, key=EVENT_KEY_NAMESPACE.bytes).digest()
    return uuid.UUID(bytes=digest)
