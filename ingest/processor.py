"""Routes each message to its adapter and collects events and dead letters for one batch."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from ingest.adapters.canonical import CanonicalAdapter
from ingest.adapters.z2m import Z2MAdapter
from ingest.messages import BatchOutcome, DeadLetter, DeadLetterReason, InboundMessage, Rejected
from ingest.registry import Registry
from telecare.events import TelecareEvent
from telecare.settings import Settings

log = logging.getLogger(__name__)

# The stored copy of an oversized payload: enough to see what it was, never the whole flood.
_OVERSIZED_KEPT_BYTES = 64 * 1024
_DEVICE_LIST_SUFFIX = "/bridge/devices"


class MessageProcessor:
    """Stateless apart from the registry cache it edits; one per ingest worker."""

    def __init__(self, *, settings: Settings, registry: Registry) -> None:
        self.registry = registry
        self._max_payload = settings.max_payload_bytes
        self._max_device_list = settings.max_device_list_bytes
        skew = timedelta(seconds=settings.clock_skew_future_s)
        max_age = timedelta(seconds=settings.max_event_age_s)
        self._z2m_prefix = settings.z2m_base_topic.rstrip("/") + "/"
        self._canonical_prefix = settings.canonical_base_topic.rstrip("/") + "/"
        self._z2m = Z2MAdapter(registry=registry, future_skew=skew, max_age=max_age)
        self._canonical = CanonicalAdapter(registry=registry, future_skew=skew, max_age=max_age)

    def process(self, *, messages: Iterable[InboundMessage]) -> BatchOutcome:
        """Everything a batch of messages means, in arrival order; rejects become dead letters."""
        outcome = BatchOutcome()
        for message in messages:
            try:
                events = self._one(message)
            except Rejected as rejected:
                outcome.dead_letters.append(self._dead_letter(message, rejected.reason, rejected.detail))
                continue
            except Exception as exc:  # nothing one device sends may stop the batch
                # An adapter fault (a bug, or input no check foresaw) costs this message only; the
                # payload is kept so it can be re-driven once the fault is fixed.
                log.warning("message on %s could not be processed (%s: %s); dead-lettered",
                            message.topic, type(exc).__name__, exc)
                outcome.dead_letters.append(self._dead_letter(
                    message, DeadLetterReason.UNPROCESSABLE, f"{type(exc).__name__}: {exc}"[:500]))
                continue
            if events:
                outcome.events.extend(events)
            else:
                outcome.ignored += 1
        return outcome

    def _limit(self, topic: str) -> int:
        """Device lists carry every paired device with its capabilities; everything else is small."""
        if topic.startswith(self._z2m_prefix) and topic.endswith(_DEVICE_LIST_SUFFIX):
            return self._max_device_list
        return self._max_payload

    def _dead_letter(self, message: InboundMessage, reason: DeadLetterReason, detail: str) -> DeadLetter:
        payload = message.payload
        if len(payload) > self._limit(message.topic):
            payload = payload[:_OVERSIZED_KEPT_BYTES]
        return DeadLetter(topic=message.topic, payload=payload, reason=reason, detail=detail,
                          received_at=message.received_at, digest=message.digest())

    def _one(self, message: InboundMessage) -> list[TelecareEvent]:
        limit = self._limit(message.topic)
        if len(message.payload) > limit:
            raise Rejected(
                DeadLetterReason.PAYLOAD_TOO_LARGE, f"{len(message.payload)} bytes is over the limit of {limit}"
            )
        topic = message.topic
        if topic.startswith(self._z2m_prefix):
            adapter: Z2MAdapter | CanonicalAdapter = self._z2m
            rest = topic[len(self._z2m_prefix):]
        elif topic.startswith(self._canonical_prefix):
            adapter = self._canonical
            rest = topic[len(self._canonical_prefix):]
        else:
            raise Rejected(DeadLetterReason.UNKNOWN_TOPIC, f"topic {topic!r} is outside the contract")
        hub_id, separator, rest = rest.partition("/")
        if not separator or not rest:
            raise Rejected(DeadLetterReason.UNKNOWN_TOPIC, f"topic {topic!r} names no hub and device")
        hub = self.registry.hubs.get(hub_id)
        if hub is None:
            raise Rejected(DeadLetterReason.UNKNOWN_HUB, f"hub {hub_id!r} is not registered")
        return adapter.handle(message=message, hub=hub, rest=rest)
