"""Ingest throughput as drain rate, against a bare paho subscriber and a naive consumer, in one run.

With the consumers offline, N QoS 1 messages (Zigbee2MQTT and canonical, mixed) are queued in each
consumer's persistent session on a private broker whose queue limits are raised. Then, one at a time:
- a bare paho subscriber that only receives and decodes drains its copy (the ceiling here);
- `telecare ingest` drains its copy into TimescaleDB (ack after commit);
- a naive consumer doing one autocommitted INSERT per message drains its copy (the peer baseline).
Each rate is measured from its first message to its last (committed, for the two that store).
Then the live rate: ingest running while a publisher publishes.

    python -m bench.ingest_throughput --messages 200000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.ingest_faults import Publisher, create_session, plan_messages, site_file, start_ingest_process
from bench.scratch import ScratchStack, scratch_stack
from telecare.local_broker import LocalBroker
from telecare.site import provision_site

TOPICS = ["z2m/#", "telecare/v1/#"]


def _connect_properties() -> Properties:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = 8000
    return properties


def bare_drain(*, port: int, client_id: str, expected: int) -> dict[str, float]:
    """Receive and JSON-decode a queued backlog with plain paho (auto-ack); the ceiling."""
    done = threading.Event()
    state = {"count": 0, "first": 0.0, "last": 0.0}

    def on_message(_client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        orjson.loads(message.payload)
        now = time.perf_counter()
        if state["count"] == 0:
            state["first"] = now
        state["count"] += 1
        state["last"] = now
        if state["count"] >= expected:
            done.set()

    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5)
    client.on_message = on_message
    started = time.perf_counter()
    client.connect("127.0.0.1", port, clean_start=False, properties=_connect_properties())
    client.loop_start()
    finished = done.wait(timeout=900)
    client.disconnect()
    client.loop_stop()
    if not finished:
        raise RuntimeError(f"bare subscriber received {state['count']} of {expected}")
    seconds = state["last"] - state["first"]
    return {"messages": expected, "seconds": round(seconds, 3), "rate": round(expected / seconds, 1),
            "seconds_including_connect": round(state["last"] - started, 3)}


def naive_drain(*, port: int, client_id: str, expected: int, database_url: str) -> dict[str, float]:
    """One autocommitted INSERT per message, ack after it: what a first attempt usually looks like."""
    return asyncio.run(_naive_drain(port=port, client_id=client_id, expected=expected, database_url=database_url))


async def _naive_drain(*, port: int, client_id: str, expected: int, database_url: str) -> dict[str, float]:
    connection = await asyncpg.connect(database_url)
    await connection.execute("CREATE TABLE IF NOT EXISTS naive_events (topic text, payload jsonb,"
                             " received_at timestamptz, mid int)")
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5, manual_ack=True)

    def on_message(_client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, message)

    client.on_message = on_message
    client.connect("127.0.0.1", port, clean_start=False, properties=_connect_properties())
    client.loop_start()
    first = last = 0.0
    for count in range(expected):
        message = await asyncio.wait_for(queue.get(), timeout=120)
        payload = orjson.loads(message.payload)
        await connection.execute("INSERT INTO naive_events VALUES ($1, $2::jsonb, now(), $3)",
                                 message.topic, orjson.dumps(payload).decode(), message.mid)
        client.ack(message.mid, 1)
        last = time.perf_counter()
        if count == 0:
            first = last
    client.disconnect()
    client.loop_stop()
    await connection.close()
    seconds = last - first
    return {"messages": expected, "seconds": round(seconds, 3), "rate": round(expected / seconds, 1)}


async def _messages_done(connection: asyncpg.Connection) -> int:
    """Messages the ingest has acknowledged-worthy: events stored plus messages that made none."""
    return int(await connection.fetchval("SELECT count(*) FROM events"))


async def ingest_drain(*, database_url: str, mqtt_url: str, client_id: str, expected_events: int,
                       messages: int, log_path: Path) -> dict[str, float]:
    """Start `telecare ingest` on a queued backlog and time until every event is committed."""
    connection = await asyncpg.connect(database_url)
    baseline = await _messages_done(connection)
    started = time.perf_counter()
    process = start_ingest_process(database_url=database_url, mqtt_url=mqtt_url, log_path=log_path,
                                   client_id=client_id)
    first = 0.0
    try:
        while True:
            stored = await _messages_done(connection) - baseline
            now = time.perf_counter()
            if stored > 0 and not first:
                first = now
            if stored >= expected_events:
                break
            if now - started > 900 or process.poll() is not None:
                raise RuntimeError(f"ingest stored {stored} of {expected_events}")
            await asyncio.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        await connection.close()
    seconds = now - first
    return {"messages": messages, "events": expected_events, "seconds": round(seconds, 3),
            "rate": round(messages / seconds, 1), "seconds_including_startup": round(now - started, 3)}


async def live_rate(*, database_url: str, broker: LocalBroker, messages: int, log_path: Path) -> dict[str, float]:
    """Ingest running while a publisher publishes: end-to-end committed rate."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    planned = plan_messages(count=messages, start=start)
    expected = sum(1 for message in planned if message.expected is not None)
    connection = await asyncpg.connect(database_url)
    await connection.execute("TRUNCATE events")
    await connection.execute("UPDATE devices SET last_state = '{}'::jsonb")
    create_session(port=broker.port, client_id="bench-live", topics=TOPICS)
    process = start_ingest_process(database_url=database_url, mqtt_url=broker.url, log_path=log_path,
                                   client_id="bench-live")
    await asyncio.sleep(2)
    publisher = Publisher(port=broker.port)
    started = time.perf_counter()
    try:
        await asyncio.to_thread(publisher.publish, messages=planned)
        published = time.perf_counter()
        while await _messages_done(connection) < expected:
            if time.perf_counter() - started > 900:
                raise RuntimeError("live ingest did not finish")
            await asyncio.sleep(0.05)
        finished = time.perf_counter()
    finally:
        publisher.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        await connection.close()
    return {"messages": messages, "publish_seconds": round(published - started, 3),
            "publish_rate": round(messages / (published - started), 1),
            "seconds_to_all_committed": round(finished - started, 3),
            "committed_rate": round(messages / (finished - started), 1),
            "lag_after_last_publish_s": round(finished - published, 3)}


async def run(*, messages: int, naive_messages: int) -> dict[str, object]:
    """The whole benchmark; returns the JSON report."""
    async with scratch_stack(prefix="throughput") as stack:
        return await _measure(stack=stack, messages=messages, naive_messages=naive_messages)


async def _measure(*, stack: ScratchStack, messages: int, naive_messages: int) -> dict[str, object]:
    database_url, broker, work = stack.database_url, stack.broker, stack.work_dir
    connection = await asyncpg.connect(database_url)
    await provision_site(connection=connection, site=site_file())
    await connection.close()
    for client_id in ("bench-bare", "bench-ingest", "bench-naive"):
        create_session(port=broker.port, client_id=client_id, topics=TOPICS)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    planned = plan_messages(count=messages, start=start)
    expected_events = sum(1 for message in planned if message.expected is not None)
    publisher = Publisher(port=broker.port)
    queued_at = time.perf_counter()
    await asyncio.to_thread(publisher.publish, messages=planned)
    publisher.close()
    queue_seconds = time.perf_counter() - queued_at
    bare = await asyncio.to_thread(bare_drain, port=broker.port, client_id="bench-bare", expected=messages)
    ingest = await ingest_drain(database_url=database_url, mqtt_url=broker.url, client_id="bench-ingest",
                                expected_events=expected_events, messages=messages, log_path=work / "ingest.log")
    naive = await asyncio.to_thread(naive_drain, port=broker.port, client_id="bench-naive",
                                    expected=naive_messages, database_url=database_url)
    live = await live_rate(database_url=database_url, broker=broker, messages=min(messages, 100_000),
                           log_path=work / "ingest-live.log")
    return {
        "benchmark": "ingest_throughput",
        "machine": {"cores": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
        "messages_queued": messages,
        "events_expected": expected_events,
        "mix": "1/3 Z2M door with last_seen, 1/3 Z2M PIR without last_seen, 1/3 canonical; 40 hubs",
        "queue_publish_seconds": round(queue_seconds, 1),
        "bare_paho_drain": bare,
        "telecare_ingest_drain": ingest,
        "naive_insert_per_message_drain": naive,
        "ratio_ingest_to_bare": round(ingest["rate"] / bare["rate"], 3),
        "ratio_naive_to_bare": round(naive["rate"] / bare["rate"], 3),
        "ratio_ingest_to_naive": round(ingest["rate"] / naive["rate"], 2),
        "live_publisher": live,
    }


def main() -> None:
    """Run and print one JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--naive-messages", type=int, default=50_000,
                        help="how much of its backlog the naive consumer drains (it is slow)")
    args = parser.parse_args()
    report = asyncio.run(run(messages=args.messages, naive_messages=min(args.naive_messages, args.messages)))
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
