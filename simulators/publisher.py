"""Publishing to the broker with paho-mqtt 2.x: MQTT 5, QoS 1, TCP_NODELAY, bounded outstanding messages.

paho numbers QoS 1 messages with 16-bit ids, so more than 65,535 unacknowledged messages fail with
ERR_QUEUE_SIZE: publishing waits while `max_outstanding` messages await their PUBACK.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from simulators.clock import Pacer
from simulators.stimuli import WireMessage
from telecare.settings import Settings

log = logging.getLogger(__name__)

MAX_OUTSTANDING_LIMIT = 65_535


class PublishError(RuntimeError):
    """The broker could not be reached or refused a message."""


@dataclass(frozen=True, slots=True)
class PublishStats:
    """What one publishing run achieved."""

    messages: int
    payload_bytes: int
    seconds: float
    acked: int
    max_outstanding_seen: int

    def as_dict(self) -> dict[str, float | int]:
        """For JSON output."""
        rate = self.messages / self.seconds if self.seconds > 0 else 0.0
        return {
            "messages": self.messages,
            "payload_bytes": self.payload_bytes,
            "seconds": round(self.seconds, 3),
            "messages_per_s": round(rate, 1),
            "acked": self.acked,
            "max_outstanding_seen": self.max_outstanding_seen,
        }


class Publisher:
    """One MQTT connection publishing QoS 1 with at most `max_outstanding` unacknowledged messages."""

    def __init__(
        self,
        *,
        settings: Settings,
        client_id: str,
        max_outstanding: int = 100,
        connect_timeout_s: float = 10.0,
    ) -> None:
        if not 1 <= max_outstanding <= MAX_OUTSTANDING_LIMIT:
            raise ValueError(f"max_outstanding must be 1..{MAX_OUTSTANDING_LIMIT}")
        self.settings = settings
        self.max_outstanding = max_outstanding
        self.connect_timeout_s = connect_timeout_s
        self._slots = threading.BoundedSemaphore(max_outstanding)
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._outstanding = 0
        self.acked = 0
        self.max_seen = 0
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        # Everything outstanding is in flight: paho rescans its queue of not-yet-sent messages on every
        # PUBACK, so letting it queue thousands beyond the in-flight window made publishing 5x slower.
        self.client.max_inflight_messages_set(max_outstanding)
        self.client.max_queued_messages_set(0)
        if settings.mqtt_username:
            self.client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
        if settings.mqtt_tls:
            self.client.tls_set_context(settings.mqtt_tls_context())
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # Without it, Nagle holds small alarm messages back by up to 40 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connected.set()

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties | None
    ) -> None:
        with self._lock:
            self._outstanding -= 1
            self.acked += 1
        self._slots.release()

    def connect(self) -> None:
        """Connect and start the network thread; raises PublishError if the broker does not answer."""
        try:
            self.client.connect(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30)
        except OSError as exc:
            raise PublishError(f"cannot reach {self.settings.mqtt_url}: {exc}") from exc
        self.client.loop_start()
        if not self._connected.wait(self.connect_timeout_s):
            self.client.loop_stop()
            raise PublishError(f"no CONNACK from {self.settings.mqtt_url} within {self.connect_timeout_s} s")

    def publish(self, message: WireMessage) -> None:
        """Publish one message at QoS 1, waiting while too many are unacknowledged."""
        while not self._slots.acquire(timeout=30):
            log.warning("waiting for PUBACKs: %d messages outstanding", self._outstanding)
        with self._lock:
            self._outstanding += 1
            self.max_seen = max(self.max_seen, self._outstanding)
        info = self.client.publish(message.topic, message.payload, qos=1, retain=message.retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise PublishError(f"publish failed: {mqtt.error_string(info.rc)}")

    def drain(self, *, timeout_s: float = 60.0) -> bool:
        """Wait until every published message is acknowledged."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self._outstanding == 0:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


def publish_stream(
    *,
    messages: Iterable[WireMessage],
    publisher: Publisher,
    pacer: Pacer,
    stop: threading.Event,
    until: float | None = None,
) -> PublishStats:
    """Publish a time-ordered stream, paced by `pacer`, until it ends, `until` (sim time) or `stop`."""
    started = time.monotonic()
    count = size = 0
    for message in messages:
        if stop.is_set() or (until is not None and message.time > until):
            break
        delay = pacer.delay(message.time)
        if delay > 0 and stop.wait(delay):
            break
        publisher.publish(message)
        count += 1
        size += len(message.payload)
    publisher.drain()
    return PublishStats(
        messages=count,
        payload_bytes=size,
        seconds=time.monotonic() - started,
        acked=publisher.acked,
        max_outstanding_seen=publisher.max_seen,
    )
