"""The broker connection: paho-mqtt, MQTT 5, QoS 1, persistent session, manual acknowledgement.

Paho runs its network loop in its own thread and only appends to a queue; the asyncio pipeline takes
batches from it and acknowledges each message after its batch is committed. An acknowledgement is only
ever sent on the connection that delivered the message: packet ids are reused on a new connection, so
a late ack could otherwise acknowledge a different, uncommitted message.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.messages import InboundMessage
from telecare.settings import Settings

log = logging.getLogger(__name__)

# QoS 1 deliveries are bounded by Receive Maximum; this bounds QoS 0 floods too by blocking paho's
# thread (TCP back-pressure to the broker) instead of growing memory.
_MAX_QUEUED = 50_000


class IngestMqttClient:
    """Receives messages into a bounded queue and acknowledges them on request."""

    def __init__(self, *, settings: Settings, loop: asyncio.AbstractEventLoop,
                 subscribed: asyncio.Event | None = None) -> None:
        self._settings = settings
        self._loop = loop
        self._subscribed = subscribed
        self._queue: deque[InboundMessage] = deque()
        self._space = threading.Condition()
        self._ready = asyncio.Event()
        self._wake_pending = False
        self._epoch_lock = threading.Lock()
        self._epoch = 0
        self._connected = threading.Event()
        self._closing = False
        self._client = self._build_client()

    @property
    def connected(self) -> bool:
        """Whether a broker connection is up and subscribed."""
        return self._connected.is_set()

    def _build_client(self) -> paho.Client:
        settings = self._settings
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=settings.mqtt_client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
        )
        if settings.mqtt_username:
            client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
        if settings.mqtt_tls:
            client.tls_set_context(ssl.create_default_context())
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself with capped backoff."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._settings.mqtt_session_expiry_s
        properties.ReceiveMaximum = self._settings.mqtt_receive_maximum
        self._client.connect_async(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly; unacknowledged messages stay with the broker for next time."""
        self._closing = True
        with self._space:
            self._space.notify_all()
        with self._epoch_lock:
            self._epoch += 1
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def subscriptions(self) -> list[tuple[str, int]]:
        """The topic filters this worker consumes, shared when a share group is set."""
        settings = self._settings
        filters = [f"{settings.z2m_base_topic}/#", f"{settings.canonical_base_topic}/#"]
        if settings.mqtt_share_group:
            filters = [f"$share/{settings.mqtt_share_group}/{topic}" for topic in filters]
        return [(topic, 1) for topic in filters]

    def _on_connect(self, client: paho.Client, _userdata: Any, flags: paho.ConnectFlags, reason: ReasonCode,
                    _properties: Properties | None) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # Without this, small acks and alarms wait up to 40 ms behind Nagle's algorithm.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe(self.subscriptions())
        log.info("connected to the broker (session present: %s)", flags.session_present)
        self._connected.set()

    def _on_subscribe(self, _client: paho.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode],
                      _properties: Properties | None) -> None:
        failed = [str(reason) for reason in reasons if reason.is_failure]
        if failed:
            log.error("broker refused subscriptions: %s", ", ".join(failed))
        elif self._subscribed is not None:
            self._loop.call_soon_threadsafe(self._subscribed.set)

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: paho.DisconnectFlags,
                       reason: ReasonCode, _properties: Properties | None) -> None:
        with self._epoch_lock:
            self._epoch += 1
        self._connected.clear()
        if not self._closing:
            log.warning("lost the broker connection (%s); reconnecting", reason)

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        inbound = InboundMessage(
            topic=message.topic,
            payload=bytes(message.payload),
            mid=message.mid,
            qos=message.qos,
            dup=bool(message.dup),
            connection_epoch=self._epoch,
            received_at=datetime.now(UTC),
        )
        if len(self._queue) >= _MAX_QUEUED:
            with self._space:
                while len(self._queue) >= _MAX_QUEUED and not self._closing:
                    self._space.wait(timeout=1.0)
        self._queue.append(inbound)
        if not self._wake_pending:
            # One wake-up per burst, not per message: call_soon_threadsafe costs a syscall.
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._ready.set)

    async def next_batch(self, *, max_messages: int, timeout_s: float) -> list[InboundMessage]:
        """Whatever has arrived, up to `max_messages`, waiting up to `timeout_s` for the first one."""
        if not self._queue:
            self._ready.clear()
            self._wake_pending = False
            if not self._queue:
                try:
                    await asyncio.wait_for(self._ready.wait(), timeout=timeout_s)
                except TimeoutError:
                    return []
        batch: list[InboundMessage] = []
        queue = self._queue
        while queue and len(batch) < max_messages:
            batch.append(queue.popleft())
        if len(queue) < _MAX_QUEUED:
            with self._space:
                self._space.notify_all()
        return batch

    def ack(self, *, messages: Sequence[InboundMessage]) -> list[int]:
        """Acknowledge committed messages still on their delivering connection; returns acked mids."""
        acked: list[int] = []
        with self._epoch_lock:
            epoch = self._epoch
            for message in messages:
                if message.qos == 1 and message.connection_epoch == epoch:
                    self._client.ack(message.mid, 1)
                    acked.append(message.mid)
        return acked
