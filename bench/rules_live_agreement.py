"""Must-show (issue 11): `rules replay` and the live path raise the same alerts on the same traffic.

A simulated scheme (bed sensors in half the flats, incidents and device faults injected) is processed
by the ingest's own code into `events`, then set aside. The live path gets it back as it would arrive:
a simulated clock moves five minutes at a time, the events of those minutes are inserted (new ingest
sequence numbers, as ingest would commit them), and the live worker's steps run (`StreamFollower.step`,
then `RulesEngine.tick` with the silence watchdog). Then `replay_history` runs over the same stored
events into a run of its own. Every alert episode (raised, raised again after a restore, attached to
an open alert) is compared by resident, condition and event time.

    python -m bench.rules_live_agreement --residents 4 --days 14 --seed 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time as monotonic_time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.pipeline_feed import feed_messages
from bench.rules_accuracy import bench_settings, configure_rules, scenario
from bench.rules_cohorts import add_scenario_arguments, take_out_bed_sensors
from bench.scratch import scratch_database
from rules.clock import ManualClock
from rules.engine import RulesEngine
from rules.replay import replay_history
from rules.stream import StreamFollower
from simulators.scenario import scenario_messages, scenario_site
from simulators.truth import TruthWriter, load_truth_dir
from telecare.site import SiteFile, provision_site

# The events of each five minutes arrive together (the engine fires a resident's due timers before
# their next event, so a timer still fires at its own due time); the watchdog runs every 15 minutes
# (a no-contact alert is stamped last heard + limit, whenever the round finds it).
STEP = timedelta(minutes=5)
WATCHDOG_EVERY = timedelta(minutes=15)
_COLUMNS = ("time, event_key, received_at, org_id, resident_id, hub_id, device_id, device_type, location, kind,"
            " is_restore, value, source, time_from_arrival")
_EPISODES = """
SELECT a.resident_id, COALESCE(h.detail->>'condition', a.condition) AS condition, h.event_time, h.action
FROM alert_history h JOIN alerts a USING (alert_id)
WHERE a.run = $1
  AND (h.action IN ('raised', 'related') OR (h.action = 'repeated' AND h.detail->>'after_clear' = 'true'))
"""


async def live_pass(*, connection: asyncpg.Connection, run: str, since: datetime, until: datetime) -> float:
    """The live worker's steps over the events, as they would have arrived; returns seconds taken."""
    started = monotonic_time.monotonic()
    engine = RulesEngine(run=run, clock=ManualClock(current=since), replay=False)
    await engine.refresh(connection=connection)
    follower = StreamFollower(run=run)
    await follower.ensure_cursor(connection=connection, start_at_end=True)
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    moment = next_watchdog = since
    while moment < until:
        # The live worker ticks every second; minutes with no event arriving, no timer due and no
        # watchdog round leave nothing to do, so the clock skips to the next one that has.
        arriving = await connection.fetchval("SELECT min(time) FROM events_source WHERE time >= $1", moment)
        due = await engine.next_due(connection=connection)
        candidates = [moment + WATCHDOG_EVERY] + [t for t in (arriving, due) if t is not None]
        step_to = max(moment + STEP, min(candidates) + STEP)
        await connection.execute(f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM events_source"
                                 " WHERE time >= $1 AND time < $2 ORDER BY time", moment, step_to)
        moment = step_to
        clock.advance_to(moment=moment)
        while (await follower.step(connection=connection, engine=engine))[0]:
            pass
        async with connection.transaction():
            await engine.tick(connection=connection, now=moment, with_watchdog=moment >= next_watchdog)
        if moment >= next_watchdog:
            next_watchdog = moment + WATCHDOG_EVERY
    return round(monotonic_time.monotonic() - started, 1)


async def episodes(*, connection: asyncpg.Connection, run: str) -> set[tuple[str, str, str]]:
    """(resident, condition, event time) of every alert episode of a run."""
    return {(row["resident_id"], row["condition"], row["event_time"].isoformat())
            for row in await connection.fetch(_EPISODES, run)}


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    async with scratch_database(prefix="agree") as url:
        config = scenario(residents=args.residents, days=args.days, seed=args.seed,
                          incidents_per_month=args.incidents_per_month, faults_per_month=args.faults_per_month,
                          prefix="agr")
        connection = await asyncpg.connect(url)
        try:
            await provision_site(connection=connection, site=SiteFile.model_validate(scenario_site(config=config)))
            with tempfile.TemporaryDirectory(prefix="agree-") as truth_dir:
                await feed_messages(connection=connection, settings=bench_settings(database_url=url, days=args.days),
                                    messages=scenario_messages(config=config, truth=TruthWriter(
                                        directory=Path(truth_dir))))
                truth = load_truth_dir(directory=Path(truth_dir))
            # Half the flats without a bed sensor, so both ways of reading a night are compared.
            await take_out_bed_sensors(connection, {rid: truth[rid] for rid in sorted(truth)[::2]})
            await configure_rules(connection=connection, truth=truth)
            since = datetime.fromtimestamp(config.start_epoch, UTC)
            until = await connection.fetchval("SELECT max(time) FROM events") + timedelta(seconds=1)
            events = await connection.fetchval("SELECT count(*) FROM events")
            await connection.execute("CREATE TABLE events_source AS SELECT * FROM events")
            await connection.execute("CREATE INDEX ON events_source (time)")
            await connection.execute("DELETE FROM events")
            # The feed left each device's and hub's last_seen at the end of the data; live, they hold
            # what has arrived so far, which the events being inserted minute by minute now carry.
            await connection.execute("UPDATE devices SET last_seen = NULL")
            await connection.execute("UPDATE hubs SET last_seen = NULL")
            live_s = await live_pass(connection=connection, run="live-sim", since=since, until=until)
            started = monotonic_time.monotonic()
            await replay_history(connection=connection, run="replay", since=since, until=until,
                                 resident_ids=sorted(truth))
            replay_s = round(monotonic_time.monotonic() - started, 1)
            live = await episodes(connection=connection, run="live-sim")
            replayed = await episodes(connection=connection, run="replay")
        finally:
            await connection.close()
    by_condition: dict[str, dict[str, int]] = {}
    for _, condition, _ in live | replayed:
        by_condition.setdefault(condition, {"live": 0, "replay": 0})
    for source, items in (("live", live), ("replay", replayed)):
        for _, condition, _ in items:
            by_condition[condition][source] += 1
    return {
        "scenario": {"residents": args.residents, "days": args.days, "seed": args.seed,
                     "incidents_per_month": args.incidents_per_month, "faults_per_month": args.faults_per_month,
                     "flats_without_bed_sensor": len(sorted(truth)[::2])},
        "note": "2 shared cores; other engineers' test suites and benchmarks were running at the same time",
        "events": events, "live_seconds": live_s, "replay_seconds": replay_s,
        "live_episodes": len(live), "replay_episodes": len(replayed), "in_both": len(live & replayed),
        "agreement_pct": round(100 * len(live & replayed) / max(1, len(live | replayed)), 2),
        "only_live": sorted(live - replayed), "only_replay": sorted(replayed - live), "by_condition": by_condition,
    }


def main() -> None:
    """Entry point: parse the arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_scenario_arguments(parser, residents=4, days=14, seed=5, incidents_per_month=4.0, faults_per_month=2.0)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(_main(args)), indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
