"""Detecting another MQTT client that takes over the ingest's persistent session.

A second client connecting with the ingest's client id (a copy of the service started twice, a
misconfigured tool, an attacker on an open broker) makes the broker close the ingest's connection and
hand the session, with every queued alarm, to the newcomer; those messages never reach the database.
Brokers do not reliably say so: Mosquitto 2.0 closes the socket without the MQTT 5 "session taken
over" reason code, and publishes no last will while the session lives on. So the ingest finds out by
itself, with a second, plain connection to the same broker (its own client id, no session):

- when the broker closes the ingest's connection and that second connection stays up for another
  second, the broker dropped the ingest's connection alone, while running and reachable: a takeover
  (or an administrator's kick, which deserves the same attention);
- a broker restart ends both connections, and is not reported; neither is a connection our own
  keep-alive gave up on (a silent network, which the watching connection may notice later);
- a broker that does send "session taken over" (0x8E) is believed at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

# A broker going down drops every connection within milliseconds of each other.
_CONFIRM_AFTER_S = 1.0
_SESSION_TAKEN_OVER = 0x8E
# What paho reports when the broker closed the socket without a DISCONNECT ("unspecified error").
_CONNECTION_CLOSED = 0x80


class SessionWatch:
    """The second connection; calls `on_takeover` (from a helper thread) for each takeover."""

    def __init__(self, *, client: paho.Client, host: str, port: int, on_takeover: Callable[[], None]) -> None:
        self._client = client
        self._host = host
        self._port = port
        self._on_takeover = on_takeover
        # Bumped on every disconnect of the watching connection: a confirmation checks it is unchanged.
        self._epoch = 0
        self._up = False
        self._lock = threading.Lock()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect

    def start(self) -> None:
        """Connect in the background (paho reconnects by itself)."""
        self._client.connect_async(self._host, self._port, keepalive=30, clean_start=True)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect the watching connection."""
        self._client.disconnect()
        self._client.loop_stop()

    def ingest_connection_lost(self, *, reason: ReasonCode) -> None:
        """The broker ended the ingest's connection (not at our request): find out whether it was a takeover."""
        if reason.value == _SESSION_TAKEN_OVER:
            self._on_takeover()
            return
        if reason.value != _CONNECTION_CLOSED:
            # Our own keep-alive timing out is a silent network, not a broker closing the connection
            # (the watching connection, on its own timer, may not have noticed yet); a broker saying why
            # it disconnects (shutting down, ...) is taken at its word.
            return
        with self._lock:
            if not self._up:
                return  # the broker is away for both connections: not a takeover
            epoch = self._epoch
        timer = threading.Timer(_CONFIRM_AFTER_S, self._confirm, kwargs={"epoch": epoch})
        timer.daemon = True
        timer.start()

    def _confirm(self, *, epoch: int) -> None:
        with self._lock:
            confirmed = self._up and self._epoch == epoch
        if confirmed:
            self._on_takeover()

    def _on_connect(self, _client: paho.Client, _userdata: Any, _flags: paho.ConnectFlags, reason: ReasonCode,
                    _properties: Properties | None) -> None:
        if reason.is_failure:
            log.warning("session watch: broker refused the connection (%s); takeovers go unnoticed", reason)
            return
        with self._lock:
            self._up = True

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: paho.DisconnectFlags,
                       _reason: ReasonCode, _properties: Properties | None) -> None:
        with self._lock:
            self._epoch += 1
            self._up = False
