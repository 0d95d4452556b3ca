"""The MQTT receiver in its own process, so receiving and committing run on two cores.

Paho's Python protocol code costs about as much CPU per message as decoding, storing and committing
it; in one process both share one interpreter lock and the drain rate is capped at half of what paho
alone reaches. The receiver process owns the broker connection (ingest/mqtt_client.py) and forwards
raw messages over a local pipe; the pipeline commits them and sends back which ones to acknowledge.

Guarantees kept across the boundary:
- ack only after commit, and only on the connection that delivered the message (epochs as before);
- the receiver reports which packet ids it acknowledged on the same ordered pipe as the messages, and
  reports them before forwarding anything received afterwards, so the pipeline forgets a packet id
  before it can see the id reused;
- flow control by credit: the receiver forwards at most `credit` messages, and about `byte_credit`
  bytes of payload, that the pipeline has not yet handed back with its acknowledgements, so memory
  stays bounded whatever arrives, however large;
- the receiver dies with the pipeline (PR_SET_PDEATHSIG, and end-of-file on the pipe), so a killed
  ingest never leaves an orphan holding the session;
- a receiver that dies is replaced: what it forwarded but was not committed is dropped (the broker
  redelivers it, never acknowledged), and each receiver numbers its connections from its own base so
  an acknowledgement meant for a dead receiver's connection is never sent on the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
from array import array
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection, wait
from typing import Any

from ingest.messages import InboundMessage
from ingest.mqtt_client import PahoReceiver, subscriptions
from telecare.settings import Settings

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_STOP_TIMEOUT_S = 10.0
# Connection epochs of receiver number n start at n * _EPOCH_SPAN; no receiver reconnects that often.
_EPOCH_SPAN = 1 << 32
# Payload bytes forwarded but not yet handed back: room for ordinary batches many times over, yet a
# flood of megabyte payloads waits at the broker instead of in memory.
_BYTE_CREDIT = 16 * 1024 * 1024


@dataclass(slots=True)
class Delivery:
    """Messages to commit, and the packet ids acknowledged since the previous delivery."""

    messages: list[InboundMessage] = field(default_factory=list)
    acked_mids: list[int] = field(default_factory=list)
    # Set when a broker connection ended since the previous delivery (the receiver died, or lost the
    # broker): the packet ids of the messages received on it that were not yet delivered.
    connection_lost_mids: list[int] | None = None


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def receiver_main(*, settings: Settings, channel: Connection, credit: int, epoch_base: int,
                  log_level: int) -> None:
    """Entry point of the receiver process: forward messages, apply acks, until told to stop."""
    _die_with_parent()
    # Ctrl-C goes to the whole process group; the pipeline decides when the receiver stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    statuses: deque[str] = deque()

    def wake() -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(wake_write, b"\0")

    def status(name: str) -> None:
        statuses.append(name)
        wake()

    # On a broker that authenticates clients, the shipped production config makes the user name the
    # client id (use_username_as_clientid): a reused id alone cannot take the session, and a watching
    # connection under the same user would itself take it. The watch is for open brokers.
    receiver = PahoReceiver(settings=settings, on_arrival=wake, on_status=status, epoch_base=epoch_base,
                            watch_session=settings.mqtt_username is None)
    credit_limit = credit
    byte_credit = _BYTE_CREDIT
    receiver.start()
    batch_max = settings.ingest_batch_max
    stopped = False
    try:
        while True:
            # More queued than one batch took: carry on at once; the wake-up only marks new arrivals.
            idle_s = 0.0 if credit > 0 and byte_credit > 0 and receiver.queued() else 1.0
            ready = wait([channel, wake_read], timeout=idle_s)
            if wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 4096)
            while channel.poll():
                request = channel.recv()
                if request[0] == "stop":
                    receiver.stop()
                    stopped = True
                    channel.send(("stopped",))
                    return
                _, acks, returned, returned_bytes = request
                # A replaced receiver's batches hand their credit to this one: never above the limit.
                credit = min(credit_limit, credit + returned)
                byte_credit = min(_BYTE_CREDIT, byte_credit + returned_bytes)
                acked: list[int] = []
                for epoch, packed in acks:
                    acked.extend(receiver.ack(epoch=epoch, mids=array("H", packed)))
                if acked:
                    # Before any later message: the broker may reuse these ids from now on.
                    channel.send(("acked", array("H", acked).tobytes()))
            while statuses:
                channel.send(("status", statuses.popleft()))
            if credit > 0 and byte_credit > 0:
                batch = receiver.take(max_messages=min(credit, batch_max), max_bytes=byte_credit)
                if batch:
                    credit -= len(batch)
                    byte_credit -= sum(len(raw[1]) for raw in batch)
                    channel.send(("messages", batch))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        # The pipeline is gone; unacknowledged messages stay with the broker.
        log.warning("ingest pipeline went away; receiver stopping")
    finally:
        if not stopped:
            receiver.stop()


class ReceiverProcess:
    """The pipeline's side of the receiver process: batches in, acknowledgements out."""

    def __init__(self, *, settings: Settings, subscribed: asyncio.Event | None = None) -> None:
        self._settings = settings
        self._subscribed = subscribed
        self._context = multiprocessing.get_context("spawn")
        self._channel: Connection | None = None
        self._process: Any = None
        self._messages: deque[InboundMessage] = deque()
        self._acked: list[int] = []
        self._ready = asyncio.Event()
        self._stopped = asyncio.Event()
        self._connected = False
        self._died = False
        self._stopping = False
        self._generation = 0
        self._restarts = 0
        self._quick_deaths = 0
        self._lost_mids: list[int] | None = None
        self._started_at = 0.0
        self._takeovers = 0

    @property
    def connected(self) -> bool:
        """Whether the receiver reports a broker connection."""
        return self._connected

    def subscriptions(self) -> list[tuple[str, int]]:
        """The topic filters this worker consumes."""
        return subscriptions(settings=self._settings)

    def start(self) -> None:
        """Start the receiver process; call from the event loop's (main) thread.

        The process is tied to the thread that starts it (PR_SET_PDEATHSIG), so never start it
        from a worker thread that may end first.
        """
        parent_end, child_end = self._context.Pipe(duplex=True)
        credit = 4 * self._settings.ingest_batch_max
        self._generation += 1
        self._started_at = asyncio.get_running_loop().time()
        self._died = False
        self._stopped.clear()
        self._process = self._context.Process(
            target=receiver_main,
            kwargs={"settings": self._settings, "channel": child_end, "credit": credit,
                    "epoch_base": self._generation * _EPOCH_SPAN,
                    "log_level": logging.getLogger().getEffectiveLevel()},
            name="telecare-mqtt-receiver",
            daemon=True,
        )
        self._process.start()
        child_end.close()
        self._channel = parent_end
        asyncio.get_running_loop().add_reader(parent_end.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        channel = self._channel
        assert channel is not None
        try:
            while channel.poll():
                self._dispatch(channel.recv())
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(channel.fileno())
            self._died = not self._stopping
            self._stopped.set()
            self._ready.set()

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "messages":
            self._messages.extend(
                InboundMessage(topic=topic, payload=payload, mid=mid, qos=qos, dup=dup,
                               connection_epoch=epoch, received_at=datetime.fromtimestamp(arrived, UTC))
                for topic, payload, mid, qos, dup, epoch, arrived in message[1]
            )
            self._ready.set()
        elif kind == "acked":
            self._acked.extend(array("H", message[1]))
            self._ready.set()
        elif kind == "status":
            self._on_status(message[1])
        elif kind == "stopped":
            self._stopped.set()

    def _connection_lost(self, *, mids: list[int]) -> None:
        self._lost_mids = (self._lost_mids or []) + mids

    def _on_status(self, name: str) -> None:
        if name == "takeover":
            # Reported beside the connection statuses, which say the rest.
            self._takeovers += 1
            self._ready.set()
            return
        if name == "disconnected":
            # What is queued came on the lost connection; it is still committed and left unacknowledged.
            self._connection_lost(mids=[message.mid for message in self._messages])
            self._ready.set()
        if name == "subscribed" and self._subscribed is not None:
            self._subscribed.set()
        self._connected = name in {"connected", "subscribed"}

    async def next_batch(self, *, max_messages: int, timeout_s: float) -> Delivery:
        """What has arrived, up to `max_messages`, waiting up to `timeout_s` for something."""
        if not self._messages and not self._acked:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=timeout_s)
        if self._died:
            self._connection_lost(mids=await self._replace_dead_receiver())
        delivery = Delivery(acked_mids=self._acked, connection_lost_mids=self._lost_mids)
        self._lost_mids = None
        self._acked = []
        queue = self._messages
        while queue and len(delivery.messages) < max_messages:
            delivery.messages.append(queue.popleft())
        return delivery

    async def _replace_dead_receiver(self) -> list[int]:
        process, channel = self._process, self._channel
        exitcode = process.exitcode if process is not None else None
        log.error("MQTT receiver process ended unexpectedly (exit code %s); starting a new one", exitcode)
        # Never acknowledged, so the broker redelivers them to the new receiver.
        dropped = [message.mid for message in self._messages]
        self._messages.clear()
        self._connected = False
        if channel is not None:
            channel.close()
        if process is not None:
            await asyncio.to_thread(process.join, _STOP_TIMEOUT_S)
        # A receiver that keeps dying at once (no memory, a bad build) is not restarted in a hot loop;
        # one that ran for a while is replaced straight away.
        loop = asyncio.get_running_loop()
        if loop.time() - self._started_at > 60:
            self._quick_deaths = 0
        await asyncio.sleep(min(10.0, 0.1 * 2**self._quick_deaths))
        self._quick_deaths += 1
        self._restarts += 1
        self.start()
        return dropped

    def take_takeovers(self) -> int:
        """Session takeovers detected since the last call."""
        takeovers, self._takeovers = self._takeovers, 0
        return takeovers

    @property
    def restarts(self) -> int:
        """How many times a dead receiver process has been replaced."""
        return self._restarts

    def ack(self, *, messages: Sequence[InboundMessage]) -> None:
        """Ask for committed messages to be acknowledged; returns their credit to the receiver."""
        if self._channel is None or self._stopped.is_set():
            return
        by_epoch: dict[int, array[int]] = {}
        for message in messages:
            if message.qos == 1:
                by_epoch.setdefault(message.connection_epoch, array("H")).append(message.mid)
        acks = [(epoch, mids.tobytes()) for epoch, mids in by_epoch.items()]
        with contextlib.suppress(OSError):
            self._channel.send(("ack", acks, len(messages), sum(len(message.payload) for message in messages)))

    async def stop(self) -> None:
        """Disconnect cleanly and end the receiver; unacknowledged messages stay with the broker."""
        self._stopping = True
        channel, process = self._channel, self._process
        if channel is None or process is None:
            return
        if not self._stopped.is_set():
            with contextlib.suppress(OSError):
                channel.send(("stop",))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=_STOP_TIMEOUT_S)
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(channel.fileno())
        await asyncio.to_thread(process.join, _STOP_TIMEOUT_S)
        if process.is_alive():
            log.warning("MQTT receiver did not stop in %.0f s; killing it", _STOP_TIMEOUT_S)
            process.kill()
            await asyncio.to_thread(process.join, _STOP_TIMEOUT_S)
        channel.close()
        self._channel = None
