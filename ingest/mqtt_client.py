"""The broker connection: paho-mqtt, MQTT 5, QoS 1, persistent session, manual acknowledgement.

This runs inside the receiver process (ingest/receiver_process.py). Paho's network loop runs in its
own thread and only appends to a bounded queue; the receiver's main thread forwards what arrived and
sends the acknowledgements the pipeline asks for. An acknowledgement is only ever sent on the
connection that delivered the message: packet ids are reused on a new connection, so a late ack could
otherwise acknowledge a different, uncommitted message.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.session_watch import SessionWatch
from telecare.settings import Settings

log = logging.getLogger(__name__)

# QoS 1 deliveries are bounded by Receive Maximum; this bounds QoS 0 floods too by blocking paho's
# thread (TCP back-pressure to the broker) instead of growing memory.
_MAX_QUEUED = 50_000
# ...and by size: a flood of device-list-sized payloads (up to the broker's 4 MiB packet limit) must
# not hold 50,000 of them.
_MAX_QUEUED_BYTES = 32 * 1024 * 1024
_KEEPALIVE_S = 30

# One received message as it crosses the process boundary (a plain tuple pickles fastest):
# topic, payload, packet id, QoS, DUP flag, connection epoch, arrival time (Unix seconds).
RawMessage = tuple[str, bytes, int, int, bool, int, float]


def subscriptions(*, settings: Settings) -> list[tuple[str, int]]:
    """The topic filters an ingest worker consumes, shared when a share group is set."""
    filters = [f"{settings.z2m_base_topic}/#", f"{settings.canonical_base_topic}/#"]
    if settings.mqtt_share_group:
        filters = [f"$share/{settings.mqtt_share_group}/{topic}" for topic in filters]
    return [(topic, 1) for topic in filters]


def build_client(*, settings: Settings, client_id: str, manual_ack: bool) -> paho.Client:
    """A paho MQTT 5 client with the broker credentials and TLS of `settings`."""
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5,
        manual_ack=manual_ack,
    )
    if settings.mqtt_username:
        client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
    if settings.mqtt_tls:
        client.tls_set_context(settings.mqtt_tls_context())
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


class PahoReceiver:
    """Receives messages into a bounded queue and acknowledges them on request (thread-safe)."""

    def __init__(self, *, settings: Settings, on_arrival: Callable[[], None],
                 on_status: Callable[[str], None], epoch_base: int = 0,
                 watch_session: bool = True) -> None:
        self._settings = settings
        self._on_arrival = on_arrival
        self._on_status = on_status
        self._queue: deque[RawMessage] = deque()
        self._queued_bytes = 0
        self._space = threading.Condition()
        self._wake_pending = False
        self._epoch_lock = threading.Lock()
        self._epoch = epoch_base
        self._closing = False
        # When paho's thread last had to wait for room in the queue: it cannot answer the broker's
        # keep-alive then, and a connection the broker drops for that is no takeover.
        self._blocked_at = -1e9
        self._client = self._build_client()
        self._watch: SessionWatch | None = None
        if watch_session:
            self._watch = SessionWatch(
                client=build_client(settings=settings,
                                    client_id=f"{settings.mqtt_client_id}-watch-{secrets.token_hex(4)}",
                                    manual_ack=False),
                host=settings.mqtt_host, port=settings.mqtt_port, on_takeover=self._on_takeover,
            )

    def _build_client(self) -> paho.Client:
        settings = self._settings
        client = build_client(settings=settings, client_id=settings.mqtt_client_id, manual_ack=True)
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
            keepalive=_KEEPALIVE_S,
            # A session that is not kept (the priority lane) starts clean: it must never be handed a backlog.
            clean_start=self._settings.mqtt_session_expiry_s == 0,
            properties=properties,
        )
        self._client.loop_start()
        if self._watch is not None:
            self._watch.start()

    def stop(self) -> None:
        """Disconnect cleanly; unacknowledged messages stay with the broker for next time."""
        self._closing = True
        with self._space:
            self._space.notify_all()
        with self._epoch_lock:
            self._epoch += 1
        self._client.disconnect()
        self._client.loop_stop()
        if self._watch is not None:
            self._watch.stop()

    def _on_takeover(self) -> None:
        # Logged loudly by the pipeline, which also counts and records it.
        self._on_status("takeover")

    def _on_connect(self, client: paho.Client, _userdata: Any, flags: paho.ConnectFlags, reason: ReasonCode,
                    _properties: Properties | None) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # Without this, small acks and alarms wait up to 40 ms behind Nagle's algorithm.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe(subscriptions(settings=self._settings))
        log.info("connected to the broker (session present: %s)", flags.session_present)
        self._on_status("connected")

    def _on_subscribe(self, _client: paho.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode],
                      _properties: Properties | None) -> None:
        failed = [str(reason) for reason in reasons if reason.is_failure]
        if failed:
            log.error("broker refused subscriptions: %s", ", ".join(failed))
        else:
            self._on_status("subscribed")

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: paho.DisconnectFlags,
                       reason: ReasonCode, _properties: Properties | None) -> None:
        with self._epoch_lock:
            self._epoch += 1
        self._on_status("disconnected")
        if not self._closing:
            log.warning("lost the broker connection (%s); reconnecting", reason)
            if self._watch is not None and time.monotonic() - self._blocked_at > _KEEPALIVE_S * 2:
                self._watch.ingest_connection_lost(reason=reason)

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            # Brokers must refuse such topics; if one does not, the message is dead-lettered (no hub
            # matches) rather than end this process, which the redelivery would end again and again.
            topic = bytes(message._topic).decode("utf-8", errors="replace")
        raw: RawMessage = (topic, bytes(message.payload), message.mid, message.qos,
                           bool(message.dup), self._epoch, time.time())
        with self._space:
            if len(self._queue) >= _MAX_QUEUED or self._queued_bytes >= _MAX_QUEUED_BYTES:
                while ((len(self._queue) >= _MAX_QUEUED or self._queued_bytes >= _MAX_QUEUED_BYTES)
                       and not self._closing):
                    self._space.wait(timeout=1.0)
                self._blocked_at = time.monotonic()
            self._queued_bytes += len(raw[1])
        self._queue.append(raw)
        if not self._wake_pending:
            # One wake-up per burst, not per message: waking the forwarder costs a syscall.
            self._wake_pending = True
            self._on_arrival()

    def queued(self) -> int:
        """How many received messages wait to be taken."""
        return len(self._queue)

    def take(self, *, max_messages: int, max_bytes: int) -> list[RawMessage]:
        """Whatever has arrived, up to `max_messages` and (after the first) `max_bytes`, without waiting."""
        # Cleared before draining: a message appended after the drain wakes the forwarder again.
        self._wake_pending = False
        queue = self._queue
        batch: list[RawMessage] = []
        taken_bytes = 0
        while queue and len(batch) < max_messages and (not batch or taken_bytes < max_bytes):
            raw = queue.popleft()
            taken_bytes += len(raw[1])
            batch.append(raw)
        if batch:
            with self._space:
                self._queued_bytes -= taken_bytes
                self._space.notify_all()
        return batch

    def ack(self, *, epoch: int, mids: Sequence[int]) -> list[int]:
        """Acknowledge committed QoS 1 messages if still on their delivering connection."""
        with self._epoch_lock:
            if epoch != self._epoch:
                return []
            for mid in mids:
                self._client.ack(mid, 1)
        return list(mids)
