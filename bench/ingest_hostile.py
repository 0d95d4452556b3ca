"""Hostile input at volume: memory stays bounded, every bad message is dead-lettered, good data kept.

Rounds of the hostile corpus (each bad payload varied per round so each is a new dead letter),
interleaved with good messages, flow into a `telecare ingest` process whose memory (with its MQTT
receiver process) is sampled.

    python -m bench.ingest_hostile --rounds 300
    python -m bench.ingest_hostile --rounds 20 --large 300   # plus 300 payloads of 3.5 MiB each
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import psutil

from bench.ingest_faults import PlannedMessage, Publisher, create_session, start_ingest_process
from bench.scratch import ScratchStack, scratch_stack
from simulators.hostile import hostile_corpus
from telecare.site import SiteFile, provision_site


def _site() -> SiteFile:
    return SiteFile.model_validate({"organisation": {"id": "hostile-org", "name": "Hostile"}, "residents": [
        {"id": "r1", "name": "R1", "hubs": [{"id": "zh", "devices": [
            {"friendly_name": "pir", "type": "pir", "location": "hallway"},
            {"friendly_name": "door", "type": "door", "location": "front_door"}]}]},
        {"id": "r2", "name": "R2", "hubs": [{"id": "ch", "protocol": "canonical"}]}]})


_LARGE_BYTES = 3_500_000  # over the 2 MiB device-list limit, under the broker's 4 MiB packet limit


def plan(*, rounds: int, large: int = 0) -> tuple[list[PlannedMessage], int, int]:
    """Interleaved bad and good messages; returns them with the counts of bad and of good events.

    `large` oversized device lists come first, as one flood: memory must not follow their size."""
    corpus = hostile_corpus(z2m_hub="zh", canonical_hub="ch", pir="pir", door="door")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    messages = [PlannedMessage("z2m/zh/bridge/devices", b"[" + b" " * _LARGE_BYTES + f"{index}]".encode(), None)
                for index in range(large)]
    bad = large
    good = 0
    for round_number in range(rounds):
        for index, hostile in enumerate(corpus):
            if hostile.what == "1 MB payload" and round_number % 10:
                continue
            moment = start + timedelta(milliseconds=10 * (round_number * len(corpus) + index))
            good += 1
            messages.append(PlannedMessage("telecare/v1/ch/events", orjson.dumps({
                "schema": "telecare.event/1", "event_id": f"g{round_number}-{index}", "time": moment.isoformat(),
                "device": {"id": "hall", "type": "pir", "location": "hallway"}, "kind": "motion"}), None))
            # Trailing spaces keep each payload's meaning and make every round a new dead letter.
            messages.append(PlannedMessage(hostile.topic, hostile.payload + b" " * round_number, None))
            bad += 1
    return messages, bad, good


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def _rss_with_children(process: psutil.Process) -> int:
    return _rss(process) + sum(_rss(child) for child in process.children(recursive=True))


async def run(*, rounds: int, large: int = 0) -> dict[str, object]:
    """Flood, sample memory, and count outcomes."""
    async with scratch_stack(prefix="hostile") as stack:
        return await _flood(stack=stack, rounds=rounds, large=large)


async def _flood(*, stack: ScratchStack, rounds: int, large: int) -> dict[str, object]:
    database_url, broker, work = stack.database_url, stack.broker, stack.work_dir
    process: subprocess.Popen[bytes] | None = None
    try:
        connection = await asyncpg.connect(database_url)
        await provision_site(connection=connection, site=_site())
        create_session(port=broker.port, client_id="hostile-ingest", topics=["z2m/#", "telecare/v1/#"])
        process = start_ingest_process(database_url=database_url, mqtt_url=broker.url, log_path=work / "ingest.log",
                                       client_id="hostile-ingest")
        watched = psutil.Process(process.pid)
        messages, bad, good = plan(rounds=rounds, large=large)
        await asyncio.sleep(3)
        rss_start = _rss_with_children(watched)
        samples: list[int] = []
        receiver_samples: list[int] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                samples.append(_rss_with_children(watched))
                receiver_samples.append(sum(_rss(child) for child in watched.children(recursive=True)))
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        publisher = Publisher(port=broker.port)
        started = time.perf_counter()
        await asyncio.to_thread(publisher.publish, messages=messages)
        publisher.close()
        while True:
            letters = int(await connection.fetchval("SELECT count(*) FROM dead_letters"))
            stored = int(await connection.fetchval("SELECT count(*) FROM events WHERE hub_id = 'ch'"))
            if (letters >= bad and stored >= good) or time.perf_counter() - started > 900:
                break
            await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - started
        sampling.set()
        sampler.join()
        alive = process.poll() is None
        reasons = {row["reason"]: int(row["n"]) for row in await connection.fetch(
            "SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason ORDER BY reason")}
        await connection.close()
        mib = 1024 * 1024
        half = len(samples) // 2
        return {
            "benchmark": "ingest_hostile",
            "rounds": rounds,
            "large_payloads": large,
            "large_payload_bytes": _LARGE_BYTES if large else 0,
            "bad_messages": bad,
            "good_messages": good,
            "dead_letters_stored": letters,
            "good_events_stored": stored,
            "dead_letters_by_reason": reasons,
            "ingest_alive": alive,
            "seconds": round(elapsed, 1),
            "rss_mib_start": round(rss_start / mib, 1),
            "rss_mib_peak": round(max(samples) / mib, 1),
            "rss_mib_end": round(samples[-1] / mib, 1),
            "rss_mib_peak_first_half": round(max(samples[:half] or samples) / mib, 1),
            "rss_mib_peak_second_half": round(max(samples[half:]) / mib, 1),
            "rss_counts": "the ingest process plus its MQTT receiver process",
            "receiver_rss_mib_peak": round(max(receiver_samples) / mib, 1),
            "other_work_running": "possibly: the machine is shared by several engineers' builds and tests",
        }
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def main() -> None:
    """Run and print one JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--large", type=int, default=0, help="oversized (3.5 MiB) device lists sent first")
    args = parser.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(run(rounds=args.rounds, large=args.large)), indent=2) + "\n")


if __name__ == "__main__":
    main()
