"""No loss and no duplicates when the ingest, the database or the broker fails mid-stream."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from bench.ingest_faults import run_fault_scenario
from ingest.messages import InboundMessage
from ingest.receiver_process import ReceiverProcess
from ingest.service import run_ingest
from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from tests.support import json_bytes, provision, publish_all, wait_until


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["kill-ingest", "kill-receiver", "restart-postgres", "restart-broker"])
async def test_fault_mid_stream_loses_and_duplicates_nothing(fault: str) -> None:
    result = await run_fault_scenario(fault=fault, events=4000)
    assert result["ingest_alive_at_end"], f"ingest stopped: {result['ingest_log_tail']}"
    assert result["missing"] == 0, result
    assert result["dead_letters"] == 0, result
    assert result["duplicated_identified"] == 0, result
    if fault != "restart-broker":
        # Only a broker restart makes the publisher resend; with the publisher connected throughout,
        # even messages without any identity must come out exactly once.
        assert result["duplicated_without_identity"] == 0, result
        assert result["events_stored"] == result["events_expected"]


async def _flat_with_a_hallway_pir(*, db: asyncpg.Connection, unique: str) -> str:
    """One resident whose hub has a hallway PIR (Z2M, no last_seen: event time is arrival time)."""
    hub = f"hub-{unique}"
    await provision(db=db, org_id=f"org-{unique}", resident_id=f"res-{unique}", hub_id=hub, devices=[
        {"friendly_name": "pir", "type": "pir", "location": "hallway"}])
    return hub


async def test_committed_but_unacknowledged_messages_are_not_stored_twice(
    db: asyncpg.Connection, broker: LocalBroker, settings: Settings, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash window between commit and ack, made certain: the broker redelivers with DUP set."""
    hub = await _flat_with_a_hallway_pir(db=db, unique=unique)
    lost_acks: list[int] = []

    def drop_acks(self: ReceiverProcess, *, messages: Sequence[InboundMessage]) -> None:
        lost_acks.extend(message.mid for message in messages)

    # Without last_seen the event time is the arrival time: only the redelivery bookkeeping can tell.
    states = [{"occupancy": index % 2 == 0} for index in range(40)]

    async def motions() -> int:
        return int(await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1 AND kind = 'motion'", hub))

    with monkeypatch.context() as patch:
        patch.setattr(ReceiverProcess, "ack", drop_acks)
        stop, subscribed = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(run_ingest(settings=settings, stop=stop, subscribed=subscribed))
        await asyncio.wait_for(subscribed.wait(), timeout=15)
        publish_all(url_port=broker.port, messages=[(f"z2m/{hub}/pir", json_bytes(s)) for s in states])

        async def all_committed() -> bool:
            return await motions() == 20

        await wait_until(all_committed, what="twenty motions committed")
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert len(lost_acks) == 40

    stop, subscribed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_ingest(settings=settings, stop=stop, subscribed=subscribed))
    await asyncio.wait_for(subscribed.wait(), timeout=15)
    # A message published after the restart proves the redeliveries ahead of it were processed.
    publish_all(url_port=broker.port, messages=[(f"z2m/{hub}/pir", json_bytes({"occupancy": True}))])
    try:
        async def marker_seen() -> bool:
            return await motions() >= 21

        await wait_until(marker_seen, what="the marker motion after the redeliveries")
        await asyncio.sleep(0.5)
        assert await motions() == 21
        # The bookkeeping of acknowledged messages is cleared by later commits: it does not grow.
        publish_all(url_port=broker.port, messages=[(f"z2m/{hub}/pir", json_bytes({"occupancy": False}))])
        publish_all(url_port=broker.port, messages=[(f"z2m/{hub}/pir", json_bytes({"occupancy": True}))])

        async def bookkeeping_cleared() -> bool:
            unacked = await db.fetchval("SELECT count(*) FROM ingest_unacked_batches b, jsonb_object_keys(b.entries)"
                                        " WHERE b.client_id = $1",
                                        settings.mqtt_client_id)
            return await motions() == 22 and int(unacked) <= 2

        await wait_until(bookkeeping_cleared, what="acknowledged messages forgotten")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def test_ingest_survives_the_database_vanishing_while_it_starts_listening(
    db: asyncpg.Connection, broker: LocalBroker, settings: Settings, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL restart between the registry listener's connect and its LISTEN must not stop ingest."""
    hub = await _flat_with_a_hallway_pir(db=db, unique=unique)
    real_add_listener = asyncpg.Connection.add_listener
    failures = [asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")]

    async def add_listener_after_a_restart(self: asyncpg.Connection, channel: str, callback: object) -> None:
        if failures:
            raise failures.pop()
        await real_add_listener(self, channel, callback)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncpg.Connection, "add_listener", add_listener_after_a_restart)
    stop, subscribed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_ingest(settings=settings, stop=stop, subscribed=subscribed))
    try:
        await asyncio.wait_for(subscribed.wait(), timeout=30)
        publish_all(url_port=broker.port, messages=[(f"z2m/{hub}/pir", json_bytes({"occupancy": True}))])

        async def stored() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1", hub))

        await wait_until(stored, what="the motion stored after the listener reconnected")
        assert failures == [] and not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
