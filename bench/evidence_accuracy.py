"""Accuracy of the nightly summaries against simulator truth and a labelled real home (JSON).

    PYTHONPATH=. .venv/bin/python -m bench.evidence_accuracy --residents 50 --days 90 [--ordonez DIR]

Loads a fresh database: the simulated scheme's messages go through the ingest code in-process (see
bench/evidence_load.py), the rules replay raises the alerts a live run would have, every night is read
and compared with the truth. The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench.evidence_load import Wire, ingest_in_process, provision
from bench.evidence_truth import compare, truth_nights
from bench.night_worker import called_nights, care_plan_for
from bench.rules_truth import RuleTimes
from models.config import EvidenceConfig, NightRules
from models.nightly import NightSummary, compute_nights, load_resident
from telecare.db.migrate import migrate
from telecare.settings import Settings

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


async def simulated(*, url: str, residents: int, days: int, seed: int, replay_rules: bool,
                    pir_only_share: int, truth_dir: Path | None = None, reuse: bool = False,
                    deterioration_share: float | None = None) -> dict[str, Any]:
    """Simulate, load, (replay rules), read every night and compare with the truth."""
    from simulators.scenario import ScenarioConfig, scenario_messages, scenario_site  # noqa: PLC0415
    from simulators.truth import TruthWriter, load_truth_dir  # noqa: PLC0415

    connection = await asyncpg.connect(url)
    config = ScenarioConfig(seed=seed, residents=residents, days=days, start=date(2024, 1, 8), prefix="acc")
    if deterioration_share is not None:
        config = replace(config, deterioration_share=deterioration_share)
    figures: dict[str, Any] = {"residents": residents, "days": days, "seed": seed, "start": config.start.isoformat()}
    # A reused database already holds this scenario's events (and `truth_dir` its truth): replay a new run.
    run = f"evidence-{secrets.token_hex(3)}" if reuse else "evidence"
    if reuse and truth_dir is not None:
        truths = load_truth_dir(directory=truth_dir)
        figures["load"] = {"reused": True, "events": await connection.fetchval("SELECT count(*) FROM events")}
    else:
        await provision(connection=connection, site=scenario_site(config=config))
        settings = Settings(database_url=url, dev_mode=True, max_event_age_s=10**9)
        with tempfile.TemporaryDirectory() as scratch:
            folder = truth_dir or Path(scratch)
            writer = TruthWriter(directory=folder)
            started = time.perf_counter()
            loaded = await ingest_in_process(connection=connection, settings=settings, messages=(
                Wire(m.time, m.topic, m.payload) for m in scenario_messages(config=config, truth=writer)))
            figures["load"] = {"messages": loaded.messages, "events": loaded.events,
                               "dead_letters": loaded.dead_letters, "seconds": round(time.perf_counter() - started, 1)}
            truths = load_truth_dir(directory=folder)
    if replay_rules:
        from bench.rules_accuracy import DEFAULT_OPERATOR, configure_rules  # noqa: PLC0415
        from rules.replay import replay_history  # noqa: PLC0415

        started = time.perf_counter()
        tz = config.tz
        since = datetime.combine(config.start, clock(0), tzinfo=tz)
        # The same replay the rules accuracy bench judges: care-plan times per resident and a
        # simulated control centre closing alerts, so a night's alerts are what a live run raises.
        await configure_rules(connection=connection, truth=truths)
        summary = await replay_history(connection=connection, run=run, since=since,
                                       until=since + timedelta(days=days + 1), resident_ids=sorted(truths),
                                       operator=DEFAULT_OPERATOR)
        figures["rules_replay"] = {"events": summary.events, "alert_changes": summary.alert_changes,
                                   "seconds": round(time.perf_counter() - started, 1)}
    evidence = EvidenceConfig(alerts_run=run if replay_rules else "live")
    data_end = datetime.combine(config.start, clock(0), tzinfo=config.tz) + timedelta(days=days + 1)
    all_truth = []
    summaries: dict[tuple[str, str], NightSummary] = {}
    pir_truth = []
    pir_summaries: dict[tuple[str, str], NightSummary] = {}
    started = time.perf_counter()
    for index, truth in enumerate(truths.values()):
        resident = await load_resident(connection=connection, resident_id=truth.resident_id)
        assert resident is not None
        nights = await compute_nights(connection=connection, resident=resident, first=truth.nights[0].night_of,
                                      last=truth.nights[-1].night_of, config=evidence)
        summaries.update({(truth.resident_id, n.night_of.isoformat()): n for n in nights})
        plan = care_plan_for(truth=truth, tz=config.tz, night=config.night_window)
        times = RuleTimes(night_window=config.night_window, data_end=data_end)
        called = called_nights(truth=truth, plan=plan, times=times) if replay_rules else None
        all_truth += truth_nights(truth=truth, called=called, night_hours=config.night_window,
                                  timezone=config.timezone)
        if index < pir_only_share:
            # The same flats read without their bed pads: the PIR-only method on the same nights.
            await connection.execute(
                "UPDATE devices SET removed_at = now() WHERE device_type = 'bed_sensor' AND hub_id = "
                "(SELECT hub_id FROM hubs WHERE resident_id = $1)", truth.resident_id)
            await connection.execute("UPDATE events SET kind = 'x_' || kind WHERE resident_id = $1 "
                                     "AND kind IN ('bed_occupied', 'bed_vacated')", truth.resident_id)
            pir = await compute_nights(connection=connection, resident=resident, first=truth.nights[0].night_of,
                                       last=truth.nights[-1].night_of, config=EvidenceConfig(night=NightRules()))
            pir_summaries.update({(truth.resident_id, n.night_of.isoformat()): n for n in pir})
            pir_truth += truth_nights(truth=truth)
    figures["read_seconds"] = round(time.perf_counter() - started, 1)
    figures["bed_sensor"] = compare(truth=all_truth, summaries=summaries)
    if pir_truth:
        figures["pir_only_same_flats"] = compare(truth=pir_truth, summaries=pir_summaries)
    await connection.close()
    return figures


async def ordonez(*, url: str, data: Path, mapping: Path) -> dict[str, Any]:
    """Replay a labelled Ordonez-format home and compare its nights with the labels."""
    from simulators.mapping import load_mapping  # noqa: PLC0415
    from simulators.replay import plan_replay, replay_messages, replay_site  # noqa: PLC0415
    from simulators.truth import load_truth  # noqa: PLC0415
    from simulators.z2m import Z2mOptions  # noqa: PLC0415

    connection = await asyncpg.connect(url)
    home = load_mapping(path=mapping)
    sensors = next(data.glob("*Sensors*.txt"))  # noqa: ASYNC240 - a bench, nothing else runs
    labels = next(data.glob("*ADLs*.txt"))  # noqa: ASYNC240
    plan, parsed = plan_replay(fmt="ordonez", sensors=sensors, labels=labels, mapping=home,
                               shift=None, now=time.time(), source=f"ordonez:{sensors.name}")
    await provision(connection=connection, site=replay_site(mapping=home, protocol="z2m"))
    settings = Settings(database_url=url, dev_mode=True, max_event_age_s=10**9)
    await ingest_in_process(connection=connection, settings=settings, messages=(
        Wire(m.time, m.topic, m.payload) for m in replay_messages(plan=plan, mapping=home, protocol="z2m",
                                                                   options=Z2mOptions())))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "truth.jsonl"
        path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in plan.truth))
        truth = load_truth(path=path)
    resident = await load_resident(connection=connection, resident_id=truth.resident_id)
    assert resident is not None
    nights = await compute_nights(connection=connection, resident=resident, first=truth.nights[0].night_of,
                                  last=truth.nights[-1].night_of, config=EvidenceConfig())
    await connection.close()
    result = compare(truth=truth_nights(truth=truth),
                     summaries={(truth.resident_id, n.night_of.isoformat()): n for n in nights})
    result["labels_skipped"] = parsed["labels_skipped"]
    result["alerts"] = "not judged: the recording has no alarm labels"
    return result


async def main(argv: list[str] | None = None) -> int:
    """Run and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-rules", action="store_true", help="skip the rules replay (no alert figures)")
    parser.add_argument("--pir-only", type=int, default=10, help="also read this many flats without bed pads")
    parser.add_argument("--ordonez", type=Path, help="folder with *Sensors*.txt and *ADLs*.txt")
    parser.add_argument("--truth-dir", type=Path, help="keep the simulator's truth files here")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the scratch database")
    parser.add_argument("--reuse-database", help="a kept database of the same scenario (needs --truth-dir)")
    parser.add_argument("--mapping", type=Path, default=Path("simulators/mappings/ordonez_a.yaml"))
    args = parser.parse_args(argv)
    reuse = bool(args.reuse_database and args.truth_dir)
    name = args.reuse_database if reuse else f"evidence_acc_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(ADMIN_URL)
    if not reuse:
        await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        await migrate(database_url=url)
        result: dict[str, Any] = {}
        if args.residents:
            # (Reading flats without their bed pads rewrites the database, so not on a reused one.)
            result["simulated"] = await simulated(
                url=url, residents=args.residents, days=args.days, seed=args.seed, replay_rules=not args.no_rules,
                pir_only_share=0 if reuse else args.pir_only, truth_dir=args.truth_dir, reuse=reuse)
        if args.ordonez:
            result["ordonez"] = await ordonez(url=url, data=args.ordonez, mapping=args.mapping)
    finally:
        if args.keep_database or reuse:
            sys.stderr.write(f"kept database {name}\n")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
