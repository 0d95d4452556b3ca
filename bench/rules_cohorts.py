"""Must-show (issue 11): the night rules per cohort, with every false alarm listed.

Cohorts of simulated homes that are hard for a night service: a mixed scheme with bed sensors, the
same without bed sensors (room PIRs and a front door only), people who go out every morning in the
last hour of the night window (with and without a bed sensor), early risers and late settlers. Each
cohort is simulated, ingested (in-process, bench/pipeline_feed.py), replayed with `replay_history`
(silence judged on device time from stored check-ins) and judged by bench/rules_truth.py and the
reference night worker (bench/night_worker.py), whose numbers are the care plan's own and who imports
nothing from rules/ or models/. Incidents are injected into the simulated background (left the flat
at night, out of bed and still, pendant, falls, device faults that silence a sensor for hours).

    python -m bench.rules_cohorts --residents 6 --days 40 --seed 11
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time as monotonic_time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from bench.rules_accuracy import DEFAULT_OPERATOR, bench_settings, run_accuracy, scenario
from bench.scratch import scratch_database
from simulators.profile import ProfileRanges
from simulators.truth import ResidentTruth

_BASE = ProfileRanges()
# name -> (profile ranges, bed sensors installed)
COHORTS: dict[str, tuple[ProfileRanges, bool]] = {
    "mixed_with_bed_sensor": (_BASE, True),
    "mixed_without_bed_sensor": (_BASE, False),
    # Up about 05:30-06:15 and out 25-45 min later: the door opens in the last hour of a 22-07 window.
    "morning_goers_with_bed_sensor": (replace(_BASE, wake_mean_min=(5 * 60 + 30, 6 * 60 + 15),
                                              morning_outing_after_rise_min=(25.0, 45.0)), True),
    "morning_goers_without_bed_sensor": (replace(_BASE, wake_mean_min=(5 * 60 + 30, 6 * 60 + 15),
                                                 morning_outing_after_rise_min=(25.0, 45.0)), False),
    "early_risers": (replace(_BASE, bedtime_mean_min=(21 * 60, 22 * 60), wake_mean_min=(4 * 60 + 45, 5 * 60 + 45)),
                     True),
    "late_settlers": (replace(_BASE, bedtime_mean_min=(24 * 60 + 15, 25 * 60 + 30),
                              wake_mean_min=(8 * 60 + 30, 9 * 60 + 30)), True),
}
BED_KINDS = ("bed_occupied", "bed_vacated")
# Injected into every resident's simulated background, on top of the random ones: (day, kind). Left the
# flat at night, up and about too long, a pendant, a fall (off the bed and still), a sensor silenced.
FORCED = ((7, "left_flat_at_night"), (9, "out_of_bed_too_long"), (11, "pendant_press"), (13, "fall"),
          (15, "device_offline"))


async def take_out_bed_sensors(connection: asyncpg.Connection, truth: dict[str, ResidentTruth]) -> None:
    """The same flats without a bed sensor: the mat is removed and its reports are not there."""
    residents = sorted(truth)
    await connection.execute("UPDATE devices SET removed_at = now() WHERE device_type = 'bed_sensor' AND hub_id IN"
                             " (SELECT hub_id FROM hubs WHERE resident_id = ANY($1::text[]))", residents)
    await connection.execute("UPDATE events SET kind = 'x_' || kind WHERE resident_id = ANY($1::text[])"
                             " AND kind = ANY($2::text[])", residents, list(BED_KINDS))


def _per_30(count: int, nights: int) -> float:
    return round(30 * count / nights, 3) if nights else 0.0


def _summary(report: dict[str, Any], *, bed_sensor: bool) -> dict[str, Any]:
    nights = int(report["resident_nights"])
    return {
        "bed_sensor": bed_sensor,
        "resident_nights": nights,
        "benign_resident_nights": report["benign_resident_nights"],
        "observable_incidents": report["observable_incidents"],
        "hits": report["hits"],
        "missed": report["missed"],
        "doubled": report["doubled"],
        "outcome_by_kind": report["outcome_by_kind"],
        "unobservable_reasons": report["unobservable_reasons"],
        "care_plan_calls": report["care_plan_calls"],
        "care_plan_calls_answered": report["care_plan_calls_answered"],
        "care_plan_calls_unanswered": report["care_plan_calls_unanswered"],
        "false_alerts": report["false_alerts"],
        "false_alerts_per_30_resident_nights": _per_30(int(report["false_alerts"]), nights),
        "false_alerts_on_benign_nights": report["false_alerts_on_benign_nights"],
        "false_alerts_by_condition": report["false_alerts_by_condition"],
        "false_alert_samples": report["false_alert_samples"],
        "timer_vs_truth_due_s": report["timer_vs_truth_due_s"],
        "problems": report["problems"],
        "events": report["events"],
    }


def add_scenario_arguments(parser: argparse.ArgumentParser, *, residents: int, days: int, seed: int,
                           incidents_per_month: float, faults_per_month: float) -> None:
    """The scenario's size and seed, and how many incidents and faults are injected."""
    parser.add_argument("--residents", type=int, default=residents)
    parser.add_argument("--days", type=int, default=days)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--incidents-per-month", type=float, default=incidents_per_month)
    parser.add_argument("--faults-per-month", type=float, default=faults_per_month)


async def run_cohort(*, name: str, ranges: ProfileRanges, bed_sensor: bool, residents: int, days: int, seed: int,
                     incidents_per_month: float, faults_per_month: float, start: date | None) -> dict[str, Any]:
    """One cohort in a database of its own (dropped afterwards)."""
    started = monotonic_time.monotonic()
    async with scratch_database(prefix="cohort") as url:
        config = scenario(residents=residents, days=days, seed=seed, incidents_per_month=incidents_per_month,
                          faults_per_month=faults_per_month, prefix=f"c{seed}", start=start, ranges=ranges,
                          forced=tuple((who, day, kind) for who in range(residents) for day, kind in FORCED
                                       if day < days - 1))
        connection = await asyncpg.connect(url)
        try:
            with tempfile.TemporaryDirectory(prefix=f"cohort-{name}-") as truth_dir:
                result = await run_accuracy(
                    connection=connection, config=config, truth_dir=Path(truth_dir),
                    settings=bench_settings(database_url=url, days=days), run="cohort", operator=DEFAULT_OPERATOR,
                    before_replay=None if bed_sensor else take_out_bed_sensors)
        finally:
            await connection.close()
    return {**_summary(result.report, bed_sensor=bed_sensor), "timings": result.timings,
            "seconds": round(monotonic_time.monotonic() - started, 1)}


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    chosen = args.cohort or list(COHORTS)
    out: dict[str, Any] = {
        "scenario": {"residents": args.residents, "days": args.days, "seed": args.seed,
                     "incidents_per_month": args.incidents_per_month, "faults_per_month": args.faults_per_month},
        "note": "2 shared cores; other engineers' test suites and benchmarks were running at the same time",
        "cohorts": {},
    }
    for name in chosen:
        ranges, bed_sensor = COHORTS[name]
        out["cohorts"][name] = await run_cohort(
            name=name, ranges=ranges, bed_sensor=bed_sensor, residents=args.residents, days=args.days,
            seed=args.seed, incidents_per_month=args.incidents_per_month, faults_per_month=args.faults_per_month,
            start=date.fromisoformat(args.start) if args.start else None)
    totals = list(out["cohorts"].values())
    nights = sum(c["resident_nights"] for c in totals)
    false = sum(int(c["false_alerts"]) for c in totals)
    out["all"] = {"resident_nights": nights, "false_alerts": false, "false_alerts_per_30_resident_nights":
                  _per_30(false, nights), "observable_incidents": sum(c["observable_incidents"] for c in totals),
                  "hits": sum(c["hits"] for c in totals), "missed": sum(c["missed"] for c in totals)}
    return out


def main() -> None:
    """Entry point: parse the arguments, run every cohort, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_scenario_arguments(parser, residents=6, days=40, seed=11, incidents_per_month=3.0, faults_per_month=1.0)
    parser.add_argument("--start", help="first simulated day (YYYY-MM-DD); default: days + 2 before today")
    parser.add_argument("--cohort", action="append", choices=sorted(COHORTS), help="only these cohorts")
    args = parser.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(_main(args)), indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
