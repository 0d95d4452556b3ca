"""The priority lane: life-safety alarms that never wait behind a backlog.

After an outage the broker holds hours of telemetry in the ingest's persistent session and delivers it
in order, so a pendant pressed during the drain would wait its turn (measured: about 10 s per 100,000
queued messages). Beside that session each ingest worker keeps a second, clean-start one that is never
kept by the broker (session expiry 0), so it only ever sees what is published from now on. The lane
decodes those messages with the same adapters and stores at once the alarms whose identity comes
from the device (a canonical hub's event id, a Zigbee2MQTT `last_seen`); the same message reaches the
persistent session too and lands on the same natural key, where it is dropped as a duplicate.

Why not a topic class for alarms in the contract: it needs every hub (and Zigbee2MQTT, which cannot)
to publish alarms apart, and a hub that publishes an alarm on the ordinary topic would still wait. The
lane needs nothing from hubs. It is an accelerator, not a store of record: it acknowledges what it
has seen even when the database refuses it, because the persistent session delivers everything anyway.

Left out on purpose: restores (a restore stored ahead of an older alarm still in the backlog would
be read before it), alarms timed by arrival (their key depends on when they arrived, so the lane's copy
would not match the backlog's), and everything that is not an alarm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from ingest.adapters.z2m_fields import ALARM_KINDS
from ingest.messages import BatchOutcome, DeadLetterReason, InboundMessage
from ingest.mqtt_client import PahoReceiver, RawMessage
from ingest.pipeline import CONNECTION_ERRORS
from ingest.processor import MessageProcessor
from ingest.registry import load_registry
from ingest.store import prepare_connection, write_priority_events
from telecare.settings import PRIORITY_CLIENT_SUFFIX, Settings

log = logging.getLogger(__name__)

_BATCH_MAX = 500
# Alarms are small; a flood of large payloads on alarm topics waits in the receiver, bounded by its byte limits.
_BATCH_MAX_BYTES = 4 * 1024 * 1024
_WAIT_S = 1.0
# The lane's registry copy is refreshed this often (new hubs; Z2M device state for edge detection).
_REGISTRY_REFRESH_S = 30.0
_UNKNOWN_RELOAD_INTERVAL_S = 2.0
_UNKNOWN_REASONS = frozenset({DeadLetterReason.UNKNOWN_HUB, DeadLetterReason.UNKNOWN_DEVICE})
_CONNECT_TIMEOUT_S = 10.0
_WRITE_TIMEOUT_S = 10.0


def lane_settings(*, settings: Settings) -> Settings:
    """The ingest's settings for its priority session: own id and user, clean start, nothing kept."""
    group = settings.mqtt_share_group
    return settings.model_copy(update={
        "mqtt_url": settings.mqtt_priority_url or settings.mqtt_url,
        "mqtt_client_id": settings.mqtt_client_id + PRIORITY_CLIENT_SUFFIX,
        "mqtt_session_expiry_s": 0,
        # Several workers' lanes share the live stream between them, as the workers share the backlog.
        "mqtt_share_group": group + PRIORITY_CLIENT_SUFFIX if group else "",
        "mqtt_receive_maximum": 1000,
    })


def priority_outcome(outcome: BatchOutcome) -> BatchOutcome:
    """Only the alarms the lane may store ahead of the backlog (see the module docstring)."""
    return BatchOutcome(events=[event for event in outcome.events
                                if event.kind in ALARM_KINDS and not event.is_restore
                                and not event.time_from_arrival])


def _inbound(raw: Sequence[RawMessage]) -> list[InboundMessage]:
    return [InboundMessage(topic=topic, payload=payload, mid=mid, qos=qos, dup=dup, connection_epoch=epoch,
                           received_at=datetime.fromtimestamp(arrived, UTC))
            for topic, payload, mid, qos, dup, epoch, arrived in raw]


class PriorityLane:
    """One worker's priority session and the database connection it writes alarms on."""

    def __init__(self, *, settings: Settings, subscribed: asyncio.Event) -> None:
        self._settings = lane_settings(settings=settings)
        self._subscribed = subscribed
        self._arrived = asyncio.Event()
        self._connection: asyncpg.Connection | None = None
        self._processor: MessageProcessor | None = None
        self._loaded_at = 0.0
        self.stored = 0
        self._loop = asyncio.get_running_loop()
        # The lane starts clean and holds no backlog: nothing to lose to a takeover, so no watching connection.
        self._receiver = PahoReceiver(settings=self._settings, on_arrival=self._wake, on_status=self._on_status,
                                      watch_session=False)

    def _wake(self) -> None:
        # Called from paho's network thread.
        self._loop.call_soon_threadsafe(self._arrived.set)

    def _on_status(self, status: str) -> None:
        # Called from paho's network thread.
        log.debug("priority lane %s", status)
        if status == "subscribed":
            self._loop.call_soon_threadsafe(self._subscribed.set)

    async def run(self, *, stop: asyncio.Event) -> None:
        """Store live alarms until `stop` is set."""
        self._receiver.start()
        log.info("priority lane listening as %s", self._settings.mqtt_client_id)
        try:
            while not stop.is_set():
                if not self._receiver.queued():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._arrived.wait(), timeout=_WAIT_S)
                self._arrived.clear()
                raw = self._receiver.take(max_messages=_BATCH_MAX, max_bytes=_BATCH_MAX_BYTES)
                if raw:
                    await self._handle(messages=_inbound(raw))
        finally:
            await asyncio.to_thread(self._receiver.stop)
            if self._connection is not None:
                self._connection.terminate()

    async def _handle(self, *, messages: list[InboundMessage]) -> None:
        try:
            await self._store(messages=messages)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            # The persistent session still brings these; the lane only loses its head start.
            log.warning("priority lane could not store %d message(s) (%s); they wait for the backlog",
                        len(messages), type(exc).__name__)
            if self._connection is not None:
                self._connection.terminate()
                self._connection = None
        self._acknowledge(messages=messages)

    async def _store(self, *, messages: list[InboundMessage]) -> None:
        now = asyncio.get_running_loop().time()
        if self._connection is None:
            self._connection = await asyncpg.connect(self._settings.database_url, timeout=_CONNECT_TIMEOUT_S)
            await prepare_connection(self._connection)
            self._processor = None
        if self._processor is None or now - self._loaded_at > _REGISTRY_REFRESH_S:
            await self._reload(now=now)
        assert self._processor is not None
        outcome = self._processor.process(messages=messages)
        if (any(letter.reason in _UNKNOWN_REASONS for letter in outcome.dead_letters)
                and now - self._loaded_at > _UNKNOWN_RELOAD_INTERVAL_S):
            # A hub registered since the last load: the lane must not miss its first alarm.
            await self._reload(now=now)
            outcome = self._processor.process(messages=messages)
        alarms = priority_outcome(outcome)
        if not alarms.events:
            return
        stored = await asyncio.wait_for(
            write_priority_events(connection=self._connection, outcome=alarms, registry=self._processor.registry),
            timeout=_WRITE_TIMEOUT_S)
        self.stored += stored
        if stored:
            log.info("priority lane stored %d alarm(s) ahead of any backlog", stored)

    async def _reload(self, *, now: float) -> None:
        assert self._connection is not None
        registry = await load_registry(connection=self._connection)
        self._processor = MessageProcessor(settings=self._settings, registry=registry)
        self._loaded_at = now

    def _acknowledge(self, *, messages: Sequence[InboundMessage]) -> None:
        by_epoch: dict[int, list[int]] = {}
        for message in messages:
            if message.qos == 1:
                by_epoch.setdefault(message.connection_epoch, []).append(message.mid)
        for epoch, mids in by_epoch.items():
            self._receiver.ack(epoch=epoch, mids=mids)


async def run_priority_lane(*, settings: Settings, stop: asyncio.Event, subscribed: asyncio.Event) -> None:
    """Run one worker's priority lane until `stop` is set; `subscribed` is set once the broker confirms."""
    await PriorityLane(settings=settings, subscribed=subscribed).run(stop=stop)
