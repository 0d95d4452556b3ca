"""What the MQTT client hands to the pipeline, and what the pipeline makes of it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from telecare.events import TelecareEvent


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One MQTT message as received, with what is needed to acknowledge it later."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    dup: bool
    # Which broker connection delivered it: an ack must never be sent on a later connection.
    connection_epoch: int
    received_at: datetime

    def digest(self) -> bytes:
        """A short fingerprint of topic and payload, to recognise a redelivery."""
        return hashlib.blake2b(self.topic.encode() + b"\x00" + self.payload, digest_size=16).digest()


class DeadLetterReason(StrEnum):
    """Why a message could not be used."""

    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID_JSON = "invalid_json"
    INVALID_PAYLOAD = "invalid_payload"
    UNKNOWN_HUB = "unknown_hub"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_TOPIC = "unknown_topic"
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
    UNSTORABLE = "unstorable"
    UNPROCESSABLE = "unprocessable"


class Rejected(Exception):  # noqa: N818 - it reads as "the message was Rejected(reason)"
    """A message that goes to the dead-letter table, with the reason and a precise detail."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected message ready to store."""

    topic: str
    payload: bytes
    reason: DeadLetterReason
    detail: str
    received_at: datetime
    digest: bytes


@dataclass(slots=True)
class BatchOutcome:
    """Everything one batch of messages produced, written in one transaction."""

    events: list[TelecareEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    ignored: int = 0
