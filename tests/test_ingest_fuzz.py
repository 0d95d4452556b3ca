"""Property-based fuzz of the whole ingest path on the real broker and database (issue 13, must show 1).

The same harness as `python -m bench.hostile_fuzz` (10,000 payloads there), smaller and derandomized
here so that every run checks the same examples.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.hostile_fuzz import FuzzHarness, fuzz, start_fuzz_ingest, stop_ingest, targets_for
from bench.ingest_faults import Publisher
from telecare.local_broker import LocalBroker
from telecare.site import provision_site
from tests.support import drop_session


async def _provision(database_url: str, token: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await provision_site(connection=connection, site=targets_for(token).site())
    finally:
        await connection.close()


async def test_a_thousand_generated_hostile_payloads_are_dead_lettered_and_every_good_event_stored_once(
    database_url: str, broker: LocalBroker, unique: str, tmp_path: Path,
) -> None:
    targets = targets_for(unique)
    await _provision(database_url, unique)
    client_id = f"fuzz-ingest-{unique}"
    ingest = start_fuzz_ingest(database_url=database_url, broker_port=broker.port, mqtt_url=broker.url,
                               client_id=client_id, log_path=tmp_path / "ingest.log")
    publisher = Publisher(port=broker.port, client_id=f"fuzz-publisher-{unique}")
    harness = await asyncio.to_thread(FuzzHarness, database_url=database_url, targets=targets, ingest=ingest,
                                      publisher=publisher, now=datetime.now(UTC))
    try:
        # Each example asserts everything about itself (reasons, counts, good events, the ingest alive);
        # hypothesis runs them in a worker thread, as the harness keeps its own event loop.
        await asyncio.to_thread(fuzz, harness=harness, targets=targets, now=datetime.now(UTC), examples=220,
                                per_example=40, derandomize=True, oversized_every=55)
        report = harness.report
        print(f"fuzz: {report.hostile_sent} hostile payloads in {report.examples} examples, {report.good_sent}"
              f" good messages; by kind {dict(report.by_kind)}; by reason {dict(report.by_reason)}")
        assert report.hostile_sent >= 1000, f"only {report.hostile_sent} hostile payloads were generated"
        kinds = {"z2m_state", "z2m_availability", "z2m_bridge_state", "z2m_bridge_devices", "canonical_event",
                 "canonical_status", "unknown_topic"}
        assert set(report.by_kind) == kinds and min(report.by_kind.values()) >= 20
        assert not report.failures
        # Memory bounded: the second half of the run peaks no higher than the first, give or take.
        samples = report.rss_samples
        half = len(samples) // 2
        assert max(samples[half:]) < max(samples[:half]) + 40 * 1024 * 1024
        assert ingest.poll() is None
    finally:
        await asyncio.to_thread(harness.close)
        publisher.close()
        stop_ingest(ingest)
        drop_session(url_port=broker.port, client_id=client_id)
        drop_session(url_port=broker.port, client_id=f"fuzz-publisher-{unique}")
