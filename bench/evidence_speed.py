"""Speed of the evidence pack with many residents' history in the events hypertable (JSON).

    PYTHONPATH=. .venv/bin/python -m bench.evidence_speed --residents 100 --days 180 --templates 4

A few simulated flats go through the ingest code in-process (bench/evidence_load.py); their event rows
are then copied server-side (INSERT ... SELECT, a COPY-speed path) to `--residents` residents, each with
its own ids and event keys and a per-resident time offset of whole minutes, so every resident has a
realistic, distinct history. `--density` adds that many extra copies of each motion event (a few
seconds apart, on a second PIR id) to reach tens of millions of rows. Timed: 30/90/180-night packs for
one resident with nights stored (the product path: a nightly job fills them) and cold (read from events),
at a tenth of the residents and at all of them. The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from datetime import date, timedelta
from typing import Any

import asyncpg

from bench.evidence_load import Wire, ingest_in_process, provision
from models.config import EvidenceConfig
from models.pack import build_pack
from telecare.db.migrate import migrate
from telecare.settings import Settings

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_CLONE_REGISTRY = """
INSERT INTO residents (resident_id, org_id, display_name, flat, timezone, night_start, night_end)
SELECT $2, org_id, $2, $2, timezone, night_start, night_end FROM residents WHERE resident_id = $1;
"""
_CLONE_EVENTS = """
INSERT INTO events (time, event_key, received_at, org_id, resident_id, hub_id, device_id, device_type, location,
                    kind, is_restore, value, source, time_from_arrival)
SELECT e.time + make_interval(mins => $3) + (c.n * interval '7 seconds'), gen_random_uuid(), e.received_at,
       e.org_id, $2, e.hub_id || '-' || $2, e.device_id || CASE WHEN c.n > 0 THEN '-x' || c.n ELSE '' END,
       e.device_type, e.location, e.kind, e.is_restore, e.value, e.source, e.time_from_arrival
FROM events e CROSS JOIN generate_series(0, $4) AS c(n)
WHERE e.resident_id = $1 AND (c.n = 0 OR e.kind = 'motion')
"""
_CLONE_DEVICES = """
WITH hub AS (
  INSERT INTO hubs (hub_id, org_id, resident_id, protocol)
  SELECT hub_id || '-' || $2, org_id, $2, protocol FROM hubs WHERE resident_id = $1 RETURNING hub_id)
INSERT INTO devices (device_id, hub_id, friendly_name, device_type, location)
SELECT d.device_id || '-' || $2, (SELECT hub_id FROM hub), d.friendly_name, d.device_type, d.location
FROM devices d JOIN hubs h USING (hub_id) WHERE h.resident_id = $1
"""


async def timed_packs(*, url: str, resident_id: str, last: date, lengths: list[int], repeats: int) -> dict[str, Any]:
    """p50/p95 seconds per period length, cold (nights computed) then warm (nights stored)."""
    connection = await asyncpg.connect(url)
    out: dict[str, Any] = {}
    config = EvidenceConfig()
    for length in lengths:
        first = last - timedelta(days=length - 1)
        await connection.execute("DELETE FROM nightly_summary WHERE resident_id = $1", resident_id)
        started = time.perf_counter()
        await build_pack(connection=connection, resident_id=resident_id, first=first, last=last, config=config)
        cold = time.perf_counter() - started
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            await build_pack(connection=connection, resident_id=resident_id, first=first, last=last, config=config)
            samples.append(time.perf_counter() - started)
        samples.sort()
        out[f"{length}_nights"] = {"cold_s": round(cold, 3), "stored_p50_s": round(statistics.median(samples), 3),
                                   "stored_p95_s": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 3)}
    await connection.close()
    return out


async def main(argv: list[str] | None = None) -> int:
    """Run and print JSON."""
    from simulators.scenario import ScenarioConfig, scenario_messages, scenario_site  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=100)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--templates", type=int, default=4)
    parser.add_argument("--density", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    name = f"evidence_speed_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    result: dict[str, Any] = {"residents": args.residents, "days": args.days, "templates": args.templates,
                              "density": args.density}
    try:
        await migrate(database_url=url)
        connection = await asyncpg.connect(url)
        config = ScenarioConfig(seed=5, residents=args.templates, days=args.days, start=date(2024, 1, 1),
                                prefix="tpl", faults_per_month=0.5)
        await provision(connection=connection, site=scenario_site(config=config))
        started = time.perf_counter()
        loaded = await ingest_in_process(connection=connection, settings=Settings(
            database_url=url, dev_mode=True, max_event_age_s=10**9), messages=(
            Wire(m.time, m.topic, m.payload) for m in scenario_messages(config=config)))
        result["template_load"] = {"events": loaded.events, "seconds": round(time.perf_counter() - started, 1)}
        last = config.start + timedelta(days=args.days - 2)
        target = "r-0000"
        started = time.perf_counter()
        checkpoints: dict[str, Any] = {}
        for index in range(args.residents):
            template = config.resident_id(index % args.templates)
            resident_id = f"r-{index:04d}"
            await connection.execute(_CLONE_REGISTRY, template, resident_id)
            await connection.execute(_CLONE_DEVICES, template, resident_id)
            await connection.execute(_CLONE_EVENTS, template, resident_id, index % 47, args.density)
            if index + 1 in (max(1, args.residents // 10), args.residents):
                count = await connection.fetchval("SELECT count(*) FROM events")
                load_s = round(time.perf_counter() - started, 1)
                await connection.execute("ANALYZE events")
                checkpoints[str(index + 1)] = {
                    "event_rows": count, "load_seconds_so_far": load_s,
                    "packs": await timed_packs(url=url, resident_id=target, last=last, lengths=[30, 90, 180],
                                               repeats=args.repeats)}
        result["by_residents_loaded"] = checkpoints
        await connection.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
