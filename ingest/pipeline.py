"""The batch loop: take what has arrived, turn it into events, commit, then acknowledge.

Group commit: while one batch is being committed the next accumulates, so batches grow with load
and stay small (low latency) when it is quiet. Nothing is acknowledged before its commit; a batch
that fails is reprocessed from its raw messages after the registry cache is reloaded, so an
uncommitted edge can never be lost or applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from ingest.messages import BatchOutcome, DeadLetter, DeadLetterReason, InboundMessage
from ingest.metrics import IngestMetrics
from ingest.processor import MessageProcessor
from ingest.receiver_process import ReceiverProcess
from ingest.registry import load_registry
from ingest.store import BatchWritten, load_unacked, prepare_connection, record_takeovers, write_batch
from telecare.settings import Settings

log = logging.getLogger(__name__)

_COMMIT_TIMEOUT_S = 30.0
# A message naming a hub or device we do not know triggers a registry reload (at most this often)
# before it is dead-lettered: the registration may simply be newer than our cache.
_UNKNOWN_RELOAD_INTERVAL_S = 2.0
_UNKNOWN_REASONS = frozenset({DeadLetterReason.UNKNOWN_HUB, DeadLetterReason.UNKNOWN_DEVICE})
_BACKOFF_CAP_S = 10.0
# Acknowledged packet ids kept until the broker reuses them: more than a full Receive Maximum window.
_PROBATION_MAX = 65_535
CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    # A connection left mid-operation by a database restart ("cannot switch to state ...; another
    # operation is in progress"): unusable, so dropped and reopened like a lost one. Seen once in the
    # restart-postgres fault test, where it ended the ingest.
    asyncpg.InternalClientError,
)


# SQLSTATE classes that say "try again later", not "this data is wrong": connection exceptions,
# operator intervention (shutdown, crash recovery), insufficient resources, system errors.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "57", "53", "58"})


def is_transient(exc: BaseException) -> bool:
    """Whether a database error is the database being away (retry) rather than refusing the data."""
    if isinstance(exc, CONNECTION_ERRORS):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES


def _failure(exc: BaseException) -> str:
    """Why rows were not stored, for a log line and a dead letter: the SQLSTATE, never the database's text."""
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        return f"the database refused it (SQLSTATE {sqlstate})"
    return f"its rows could not be encoded ({type(exc).__name__})"


def backoff_delay(*, attempt: int, cap_s: float = _BACKOFF_CAP_S) -> float:
    """Capped exponential backoff with full jitter, so restarted workers do not stampede."""
    return random.uniform(0, min(cap_s, 0.2 * 2**attempt))


class IngestPipeline:
    """Owns the database connection and the registry cache of one ingest worker."""

    def __init__(self, *, settings: Settings, client: ReceiverProcess, metrics: IngestMetrics) -> None:
        self._settings = settings
        self._client = client
        self._metrics = metrics
        self._connection: asyncpg.Connection | None = None
        self._processor: MessageProcessor | None = None
        self._committed_unacked: dict[int, bytes] = {}
        self._forget_mids: list[int] = []
        self._probation: OrderedDict[int, bytes] = OrderedDict()
        self.reload_requested = False
        self._last_reload = 0.0
        self._last_batch_id = 0
        self._takeovers_unrecorded = 0

    async def connect(self, *, stop: asyncio.Event) -> bool:
        """(Re)connect to the database and reload the registry; False if asked to stop first."""
        attempt = 0
        while not stop.is_set():
            try:
                connection = await asyncpg.connect(self._settings.database_url, timeout=10)
                await prepare_connection(connection)
                registry = await load_registry(connection=connection)
                unacked = await load_unacked(connection=connection, client_id=self._settings.mqtt_client_id)
            except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                if not is_transient(exc):
                    raise
                delay = backoff_delay(attempt=attempt)
                log.warning("database unavailable (%s); retrying in %.1f s", type(exc).__name__, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            self._connection = connection
            self._processor = MessageProcessor(settings=self._settings, registry=registry)
            self._last_reload = asyncio.get_running_loop().time()
            # Rows from the database are the truth after a crash; in-process knowledge is kept too.
            self._committed_unacked = {**unacked, **self._committed_unacked}
            self.reload_requested = False
            return True
        return False

    async def close(self) -> None:
        """Close the database connection."""
        if self._connection is not None:
            await self._connection.close(timeout=5)
            self._connection = None

    async def _reload_registry(self) -> None:
        assert self._connection is not None
        registry = await load_registry(connection=self._connection)
        self._processor = MessageProcessor(settings=self._settings, registry=registry)
        self.reload_requested = False
        self._last_reload = asyncio.get_running_loop().time()

    async def _process(self, *, messages: Sequence[InboundMessage]) -> BatchOutcome:
        assert self._processor is not None
        outcome = self._processor.process(messages=messages)
        now = asyncio.get_running_loop().time()
        if (any(letter.reason in _UNKNOWN_REASONS for letter in outcome.dead_letters)
                and now - self._last_reload > _UNKNOWN_RELOAD_INTERVAL_S):
            # Throw away this attempt's cache edits with the reload, then try once more.
            await self._reload_registry()
            outcome = self._processor.process(messages=messages)
        return outcome

    async def run(self, *, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is committed before returning."""
        if self._connection is None and not await self.connect(stop=stop):
            return
        while not stop.is_set():
            delivery = await self._client.next_batch(
                max_messages=self._settings.ingest_batch_max, timeout_s=0.5
            )
            self._forget(acked_mids=delivery.acked_mids)
            batch = delivery.messages
            if delivery.connection_lost_mids is not None:
                self._connection_lost(seen_mids=delivery.connection_lost_mids)
            self._reused(mids=[message.mid for message in batch])
            await self._note_takeovers()
            if self.reload_requested and self._connection is not None:
                try:
                    await self._reload_registry()
                except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                    if not is_transient(exc):
                        raise
                    await self._drop_connection()
            if batch:
                await self._commit(batch=batch, stop=stop)

    async def _note_takeovers(self) -> None:
        """Count, and record for /readyz, the takeovers of our MQTT session the receiver detected."""
        detected = self._client.take_takeovers()
        if detected:
            log.error("another MQTT client connected with this ingest's client id %r and took over its session:"
                      " what the broker sent it never reached the database; reconnecting to take it back",
                      self._settings.mqtt_client_id)
            self._metrics.session_takeovers.inc(detected)
            self._takeovers_unrecorded += detected
        if not self._takeovers_unrecorded or self._connection is None:
            return
        try:
            await record_takeovers(connection=self._connection, client_id=self._settings.mqtt_client_id,
                                   count=self._takeovers_unrecorded)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            # Kept and written with a later batch: the database being away is handled there.
            log.warning("session takeover not yet recorded (%s)", type(exc).__name__)
            return
        self._takeovers_unrecorded = 0

    def _next_batch_id(self) -> int:
        # Wall-clock nanoseconds, strictly increasing: later batches win when the rows are read back.
        self._last_batch_id = max(time.time_ns(), self._last_batch_id + 1)
        return self._last_batch_id

    def _split_redelivered(self, batch: Sequence[InboundMessage]) -> tuple[list[InboundMessage], int]:
        fresh: list[InboundMessage] = []
        skipped = 0
        for message in batch:
            if message.dup and self._committed_unacked.get(message.mid) == message.digest():
                skipped += 1
            else:
                fresh.append(message)
        return fresh, skipped

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()

    async def _commit(self, *, batch: list[InboundMessage], stop: asyncio.Event) -> None:
        metrics = self._metrics
        metrics.received.inc(len(batch))
        fresh, skipped = self._split_redelivered(batch)
        metrics.redeliveries_skipped.inc(skipped)
        batch_id = self._next_batch_id()
        attempt = 0
        written: BatchWritten | None = None
        isolate = False
        while written is None:
            if self._connection is None and not await self.connect(stop=stop):
                return
            started = asyncio.get_running_loop().time()
            try:
                if isolate:
                    await self._reload_registry()
                    written = await self._commit_one_by_one(messages=fresh, batch_id=batch_id)
                else:
                    outcome = await self._process(messages=fresh)
                    written = await asyncio.wait_for(self._write(outcome=outcome, messages=fresh, batch_id=batch_id),
                                                     timeout=_COMMIT_TIMEOUT_S)
            except Exception as exc:  # one message's rows must never stop every home's ingest
                # Not only the database refusing rows: a row that cannot even be encoded (a device state
                # too deep to serialise) fails here too, and must cost that one message, not the process.
                metrics.db_failures.inc()
                if is_transient(exc):
                    log.warning("batch of %d not committed (%s); reconnecting", len(fresh), type(exc).__name__)
                    await self._drop_connection()
                    await asyncio.sleep(backoff_delay(attempt=attempt))
                    attempt += 1
                elif isolate:
                    # Even a dead letter cannot be written: nothing is acknowledged, a restart retries.
                    raise
                else:
                    log.error("batch of %d not stored (%s); storing one by one", len(fresh), _failure(exc))
                    isolate = True
            else:
                metrics.commit_seconds.observe(asyncio.get_running_loop().time() - started)
        self._record(written=written, outcome_size=len(batch))
        self._acknowledge(batch=batch)

    async def _write(self, *, outcome: BatchOutcome, messages: Sequence[InboundMessage],
                     batch_id: int) -> BatchWritten:
        assert self._connection is not None and self._processor is not None
        unacked = {message.mid: message.digest() for message in messages if message.qos == 1}
        written = await write_batch(
            connection=self._connection,
            outcome=outcome,
            registry=self._processor.registry,
            client_id=self._settings.mqtt_client_id,
            batch_id=batch_id,
            unacked=list(unacked.items()),
            forget_mids=self._forget_mids,
        )
        self._forget_mids = []
        self._committed_unacked.update(unacked)
        for letter in outcome.dead_letters:
            self._metrics.dead_letters.labels(reason=letter.reason.value).inc()
        self._metrics.ignored.inc(outcome.ignored)
        return written

    async def _commit_one_by_one(self, *, messages: Sequence[InboundMessage], batch_id: int) -> BatchWritten:
        """Isolate the message the database refuses, dead-letter it, and store the rest."""
        assert self._processor is not None
        stored = duplicates = dead = staged = 0
        for message in messages:
            outcome = self._processor.process(messages=[message])
            try:
                written = await self._write(outcome=outcome, messages=[message], batch_id=batch_id)
            except Exception as exc:  # isolate whatever this one message's rows caused
                if is_transient(exc):
                    raise
                log.error("message on %s not storable (%s); dead-lettered", message.topic, _failure(exc))
                # Its uncommitted registry edits (the state that could not be stored) go with it.
                await self._reload_registry()
                kept = outcome.dead_letters[0].payload if outcome.dead_letters else message.payload
                refused = BatchOutcome(dead_letters=[DeadLetter(
                    topic=message.topic, payload=kept, reason=DeadLetterReason.UNSTORABLE,
                    detail=_failure(exc), received_at=message.received_at, digest=message.digest(),
                )])
                written = await self._write(outcome=refused, messages=[message], batch_id=batch_id)
            stored += written.stored
            duplicates += written.duplicates
            dead += written.dead_letters
            staged += written.staged
        return BatchWritten(staged=staged, stored=stored, duplicates=duplicates, dead_letters=dead, max_seq=None)

    def _record(self, *, written: BatchWritten, outcome_size: int) -> None:
        metrics = self._metrics
        metrics.stored.inc(written.stored)
        metrics.duplicates.inc(written.duplicates)
        metrics.batch_size.observe(outcome_size)

    def _acknowledge(self, *, batch: Sequence[InboundMessage]) -> None:
        now = datetime.now(UTC)
        for message in batch[:: max(1, len(batch) // 20)]:
            self._metrics.consumer_lag_seconds.observe((now - message.received_at).total_seconds())
        self._client.ack(messages=batch)

    def _forget(self, *, acked_mids: Sequence[int]) -> None:
        # Reported by the receiver before any message that could reuse these packet ids. "Acked" means
        # handed to paho: the PUBACK may still die with a killed receiver, so each stays on probation
        # until the broker reuses its packet id, which it only does once the PUBACK has arrived.
        for mid in acked_mids:
            digest = self._committed_unacked.pop(mid, None)
            if digest is not None:
                self._probation[mid] = digest
                self._probation.move_to_end(mid)
        while len(self._probation) > _PROBATION_MAX:
            self._probation.popitem(last=False)
        self._forget_mids.extend(acked_mids)

    def _reused(self, *, mids: Sequence[int]) -> None:
        for mid in mids:
            self._probation.pop(mid, None)

    def _connection_lost(self, *, seen_mids: Sequence[int]) -> None:
        """A broker connection ended (or its receiver died): acks it may not have delivered count again."""
        self._reused(mids=seen_mids)
        # The broker numbers packets in sequence, so these ids are not reused for a long while: a
        # redelivery flagged DUP with one of them is the committed message, not a new one.
        self._committed_unacked.update(self._probation)
        self._probation.clear()
