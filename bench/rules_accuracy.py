"""Must-show 1: the rules against simulated homes with ground truth; prints a confusion table as JSON.

A fresh database; the simulators' scheme (residents x days, with incidents and faults) goes through
the real ingest processing and store in-process (bench/pipeline_feed.py: only the MQTT hop is left
out); `replay_history` (what `telecare rules replay` runs) processes the period on event time under
its own run name; the alerts are compared with the truth files (bench/rules_truth.py).

    python -m bench.rules_accuracy --residents 50 --days 90 --seed 7 --incidents-per-month 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time as monotonic_time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.night_worker import called_nights, care_plan_bed_by, care_plan_for, care_plan_up_by
from bench.pipeline_feed import feed_messages
from bench.rules_truth import RaisedAlert, RuleTimes, evaluate
from rules.replay import replay_history
from rules.replay_operator import SimulatedOperator
from simulators.profile import ProfileRanges
from simulators.scenario import ScenarioConfig, scenario_messages, scenario_site
from simulators.truth import ResidentTruth, TruthWriter, load_truth_dir
from simulators.z2m import Z2mOptions
from telecare.db.migrate import migrate
from telecare.settings import Settings
from telecare.site import SiteFile, provision_site

# A control centre answers within a minute and closes most alerts within half an hour.
DEFAULT_OPERATOR = SimulatedOperator(close_after=timedelta(minutes=30))
ADMIN_URL = os.environ.get("TELECARE_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True, slots=True)
class AccuracyRun:
    """What one evaluation produced."""

    report: dict[str, Any]
    timings: dict[str, float]


async def configure_rules(*, connection: asyncpg.Connection, truth: dict[str, ResidentTruth]) -> dict[str, time]:
    """Per-resident rule settings a care team would enter (see `care_plan_up_by`, `care_plan_bed_by`), and the
    out-of-bed and left-the-flat limits the truth's due times are worked out with (`RuleTimes`)."""
    up_by = {resident_id: care_plan_up_by(resident) for resident_id, resident in truth.items()}
    times = RuleTimes()
    minutes = [int(limit.total_seconds() // 60) for limit in (times.out_of_bed, times.out_of_bed_max, times.left_flat)]
    await connection.executemany(
        "INSERT INTO rule_config (resident_id, up_by, bed_by, out_of_bed_min, out_of_bed_max_min, left_flat_min)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (resident_id) DO UPDATE SET up_by = EXCLUDED.up_by,"
        " bed_by = EXCLUDED.bed_by, out_of_bed_min = EXCLUDED.out_of_bed_min,"
        " out_of_bed_max_min = EXCLUDED.out_of_bed_max_min, left_flat_min = EXCLUDED.left_flat_min",
        [(rid, up_by[rid], care_plan_bed_by(resident), *minutes) for rid, resident in truth.items()],
    )
    return up_by


async def raised_alerts(*, connection: asyncpg.Connection, run: str) -> list[RaisedAlert]:
    """Every alert episode of the run, plus every condition attached to an alert as the same incident.

    A condition that returns after its restore, before the operator closed the alert, lands on the
    same alert row as a new episode (history `repeated` with `after_clear`); each counts as one alert,
    as does every alert row (one raised after a close is a new row).
    """
    rows = await connection.fetch(
        "SELECT h.history_id, a.alert_id, a.resident_id, a.condition, h.action, h.event_time,"
        " h.detail, a.detected_at FROM alert_history h JOIN alerts a USING (alert_id)"
        " WHERE a.run = $1 AND a.resident_id IS NOT NULL"
        " AND (h.action IN ('raised', 'related') OR (h.action = 'repeated' AND h.detail->>'after_clear' = 'true'))"
        " ORDER BY h.history_id", run)
    alerts: list[RaisedAlert] = []
    for row in rows:
        detail = json.loads(row["detail"]) if isinstance(row["detail"], str) else dict(row["detail"])
        due = detail.get("due_at")
        due_at = datetime.fromisoformat(due) if isinstance(due, str) else None
        if row["action"] == "related":
            alerts.append(RaisedAlert(row["history_id"], row["alert_id"], row["resident_id"], str(detail["condition"]),
                                      row["event_time"], row["event_time"], None, related_to=row["alert_id"],
                                      device=_device(detail.get("subject"))))
            continue
        detected = detail.get("detected_at")
        detected_at = datetime.fromisoformat(detected) if isinstance(detected, str) else row["detected_at"]
        limit = detail.get(OWN_LIMIT_FIELD)
        alerts.append(RaisedAlert(row["history_id"], row["alert_id"], row["resident_id"], row["condition"],
                                  row["event_time"], detected_at, due_at, device=_device(detail.get("device_id")),
                                  own_limit=timedelta(seconds=limit) if isinstance(limit, int | float) else None))
    return alerts


def _device(value: object) -> str | None:
    """A device id (`hub:friendly name`) from an alert's detail, or None for a resident-level subject."""
    return value if isinstance(value, str) and ":" in value and not value.startswith("hub:") else None


# The alert detail field naming a resident's own out-of-bed limit (the alert contract, docs/rules.md).
OWN_LIMIT_FIELD = "out_of_bed_limit_s"
# How long each kind of device may stay silent, from the makers' check-in intervals as documented for
# the service (docs/rules.md): hourly reporters 3 h, smoke, CO and pendants (4-6 h check-ins) 13 h.
# Written here, not imported: a yardstick imports nothing it judges.
RARELY_REPORTING = frozenset({"smoke", "co", "gas", "heat", "personal_trigger", "button", "pull_cord"})


def documented_silence(*, device_type: str) -> timedelta:
    """The silence after which the documentation says a device of this type is offline."""
    return timedelta(hours=13) if device_type in RARELY_REPORTING else timedelta(hours=3)


async def device_silences(*, connection: asyncpg.Connection) -> dict[str, dict[str, timedelta]]:
    """Each resident's devices (by friendly name) and the silence after which they count as offline."""
    rows = await connection.fetch(
        "SELECT h.resident_id, d.friendly_name, d.device_type FROM devices d JOIN hubs h USING (hub_id)"
        " WHERE h.resident_id IS NOT NULL")
    silences: dict[str, dict[str, timedelta]] = {}
    for row in rows:
        silences.setdefault(row["resident_id"], {})[row["friendly_name"]] = documented_silence(
            device_type=row["device_type"])
    return silences


async def run_accuracy(
    *, connection: asyncpg.Connection, config: ScenarioConfig, truth_dir: Path, settings: Settings,
    run: str, simulate: bool = True, operator: SimulatedOperator | None = DEFAULT_OPERATOR,
    before_replay: Callable[[asyncpg.Connection, dict[str, ResidentTruth]], Awaitable[None]] | None = None,
) -> AccuracyRun:
    """Simulate, ingest, replay and evaluate one scenario in the database behind `connection`.

    With `simulate` False the database and `truth_dir` already hold the scenario (a kept run): only
    the replay and the evaluation run again, under the run name `run`. The `operator` closes each
    alert as a control centre would (None: alerts stay open all replay). `before_replay` changes the
    stored flat first (a cohort without bed sensors takes them out).
    """
    timings: dict[str, float] = {}
    stats = None
    if simulate:
        started = monotonic_time.monotonic()
        site = SiteFile.model_validate(scenario_site(config=config))
        await provision_site(connection=connection, site=site)
        writer = TruthWriter(directory=truth_dir)
        stats = await feed_messages(connection=connection, settings=settings,
                                    messages=scenario_messages(config=config, truth=writer))
        timings["simulate_and_ingest_s"] = round(monotonic_time.monotonic() - started, 1)
    truth = load_truth_dir(directory=truth_dir)
    if before_replay is not None:
        await before_replay(connection, truth)
    up_by = await configure_rules(connection=connection, truth=truth)
    since = datetime.fromtimestamp(config.start_epoch, UTC)
    # The simulation ends at the last rise; replaying on past it would read the end of data as a silent flat.
    # Each flat's data ends at its own last rise: the replay stops at the earliest of them, or a flat
    # whose data ended first would look silent (a hub offline) while the others' mornings go on.
    until = await connection.fetchval("SELECT min(last) FROM (SELECT max(time) AS last FROM events"
                                      " WHERE resident_id IS NOT NULL GROUP BY resident_id) AS ends") \
        + timedelta(seconds=1)
    started = monotonic_time.monotonic()
    summary = await replay_history(connection=connection, run=run, since=since, until=until,
                                   resident_ids=sorted(truth), operator=operator)
    timings["replay_s"] = round(monotonic_time.monotonic() - started, 1)
    alerts = await raised_alerts(connection=connection, run=run)
    # Z2M check-ins are stored, so the replay judges silence on device time as the live service does.
    times = RuleTimes(up_by=up_by, data_end=until, night_window=config.night_window, silence_watchdog=True)
    called = {resident_id: called_nights(truth=resident, times=times, plan=care_plan_for(
        truth=resident, tz=config.tz, night=config.night_window)) for resident_id, resident in truth.items()}
    report = evaluate(truth=truth, alerts=alerts, device_silence=await device_silences(connection=connection),
                      times=times, called=called)
    if stats is not None:
        report["messages"] = stats.messages
        report["dead_letters"] = stats.dead_letters
    report["events"] = await connection.fetchval("SELECT count(*) FROM events")
    report["replay_events"] = summary.events
    report["replay_events_per_s"] = round(summary.events / max(timings["replay_s"], 0.001))
    report["alerts"] = len([a for a in alerts if a.related_to is None])
    report["closed_by_operator"] = summary.closed_by_operator
    return AccuracyRun(report=report, timings=timings)


def scenario(*, residents: int, days: int, seed: int, incidents_per_month: float, faults_per_month: float,
             prefix: str, start: date | None = None, deterioration_share: float = 0.3,
             forced: tuple[tuple[int, int, str], ...] = (), ranges: ProfileRanges | None = None) -> ScenarioConfig:
    """The simulated scheme, as fast as possible, with device times on every message."""
    return ScenarioConfig(
        seed=seed, residents=residents, days=days, prefix=prefix, org_id=f"{prefix}-org",
        start=start or (datetime.now(UTC).date() - timedelta(days=days + 2)),
        z2m=Z2mOptions(last_seen="iso"), incidents_per_month=incidents_per_month,
        faults_per_month=faults_per_month, forced=forced, deterioration_share=deterioration_share,
        ranges=ranges or ProfileRanges(),
    )


def bench_settings(*, database_url: str, days: int) -> Settings:
    """Settings for the in-process ingest: history older than the default 7-day age limit is accepted."""
    return Settings(database_url=database_url, dev_mode=True, max_event_age_s=(days + 30) * 86400)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    name = args.reuse or f"telecare_bench_{secrets.token_hex(4)}"
    if args.reuse and args.truth_dir is None:
        raise SystemExit("--reuse needs the --truth-dir the kept run wrote")
    if not args.reuse:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
    keep = args.keep or bool(args.reuse)
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        await migrate(database_url=url)
        config = scenario(residents=args.residents, days=args.days, seed=args.seed,
                          incidents_per_month=args.incidents_per_month, faults_per_month=args.faults_per_month,
                          prefix="acc", start=date.fromisoformat(args.start) if args.start else None)
        connection = await asyncpg.connect(url)
        try:
            with tempfile.TemporaryDirectory(prefix="rules-accuracy-") as scratch_dir:
                truth_dir = Path(args.truth_dir) if args.truth_dir else Path(scratch_dir)
                truth_dir.mkdir(parents=True, exist_ok=True)
                result = await run_accuracy(connection=connection, config=config, truth_dir=truth_dir,
                                            settings=bench_settings(database_url=url, days=args.days),
                                            run=args.run, simulate=not args.reuse,
                                            operator=_operator(close_min=args.operator_close_min))
        finally:
            await connection.close()
    finally:
        if not keep:
            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    return {"scenario": {"residents": args.residents, "days": args.days, "seed": args.seed,
                         "incidents_per_month": args.incidents_per_month,
                         "faults_per_month": args.faults_per_month, "start": config.start.isoformat(),
                         "operator_close_min": args.operator_close_min},
            "database": name if keep else None, "timings": result.timings, **result.report}


def _operator(*, close_min: float) -> SimulatedOperator | None:
    return SimulatedOperator(close_after=timedelta(minutes=close_min)) if close_min > 0 else None


def main() -> None:
    """Entry point: parse the arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--incidents-per-month", type=float, default=2.0)
    parser.add_argument("--faults-per-month", type=float, default=1.0)
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    parser.add_argument("--truth-dir", help="write (or, with --reuse, read) the truth files here")
    parser.add_argument("--reuse", metavar="DATABASE",
                        help="a database kept by an earlier run of the same scenario: replay and evaluate only")
    parser.add_argument("--start", help="first simulated day (YYYY-MM-DD); default: days + 2 before today")
    parser.add_argument("--operator-close-min", type=float, default=30.0,
                        help="the simulated operator closes each alert this many event-time minutes after it"
                             " is raised (0: nobody closes alerts)")
    parser.add_argument("--run", default="accuracy", help="run name of the replay (one per replay of a database)")
    args = parser.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(_main(args)), indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
