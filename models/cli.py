"""`telecare report ...`: nightly summaries, evidence packs, the scheme view, decisions and triggers."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from models.changes_cli import register_models
from models.config import CostRates, EvidenceConfig
from models.review import add_trigger, record_decision
from models.scheduler import SchedulerOptions, run_scheduler
from models.scheme import scheme_view
from models.service import FORMATS, render_pack, run_nightly
from telecare.cli import iso_date, require_known
from telecare.settings import Settings
from telecare.signals import stop_on_signals

_DATE = {"type": iso_date, "metavar": "YYYY-MM-DD"}
_FORMAT_HELP = "json (default), csv, html or pdf; pdf needs --out"


def _config(args: argparse.Namespace) -> EvidenceConfig:
    config = EvidenceConfig(alerts_run=args.run)
    rates = CostRates(waking_night_hourly=args.waking_night_rate, sleep_in_hourly=args.sleep_in_rate,
                      hours_per_night=args.hours_per_night)
    return replace(config, costs=rates)


def _write(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(data if data.endswith(b"\n") else data + b"\n")
    else:
        out.write_bytes(data)


async def nightly_handler(args: argparse.Namespace, settings: Settings) -> int:
    """Compute and store nightly summaries; check triggers and raise review alerts."""
    from telecare.cli import print_json  # noqa: PLC0415

    await require_known(database_url=settings.database_url, residents=args.resident,
                        orgs=[args.org] if args.org else [])
    connection = await asyncpg.connect(settings.database_url)
    try:
        ids = list(args.resident) or [r["resident_id"] for r in await connection.fetch(
            "SELECT resident_id FROM residents WHERE org_id = $1 ORDER BY resident_id", args.org)]
        runs = await run_nightly(connection=connection, resident_ids=ids, first=args.first, last=args.last,
                                 config=_config(args), raise_alerts=not args.no_alerts)
    finally:
        await connection.close()
    print_json([asdict(run) for run in runs])
    return 0


async def worker_handler(args: argparse.Namespace, settings: Settings) -> int:
    """Read each resident's night once it is over, every morning, until stopped."""
    stop = stop_on_signals()
    options = SchedulerOptions(interval_s=args.interval_s, catch_up_nights=args.catch_up_nights, org_id=args.org)
    await run_scheduler(database_url=settings.database_url, config=_config(args), stop=stop, options=options)
    return 0


async def pack_handler(args: argparse.Namespace, settings: Settings) -> int:
    """Write an evidence pack as JSON, CSV, HTML or PDF."""
    baseline = (args.baseline_from, args.baseline_to) if args.baseline_from and args.baseline_to else None
    await require_known(database_url=settings.database_url, residents=[args.resident])
    connection = await asyncpg.connect(settings.database_url)
    try:
        body, _, _ = await render_pack(connection=connection, resident_id=args.resident, first=args.first,
                                       last=args.last, config=_config(args), fmt=args.format, baseline=baseline)
    finally:
        await connection.close()
    _write(body, args.out)
    return 0


async def scheme_handler(args: argparse.Namespace, settings: Settings) -> int:
    """The provider's scheme view: who is stable and who needs a review."""
    from telecare.cli import print_json  # noqa: PLC0415

    await require_known(database_url=settings.database_url, orgs=[args.org])
    connection = await asyncpg.connect(settings.database_url)
    try:
        rows = await scheme_view(connection=connection, org_id=args.org, last=args.last, config=_config(args))
    finally:
        await connection.close()
    if args.format == "csv":
        from models.render.tables import render_scheme_csv  # noqa: PLC0415

        _write(render_scheme_csv(rows=rows).encode(), args.out)
    else:
        print_json(rows)
    return 0


async def decide_handler(args: argparse.Namespace, settings: Settings) -> int:
    """Record a review decision."""
    await require_known(database_url=settings.database_url, residents=[args.resident])
    connection = await asyncpg.connect(settings.database_url)
    try:
        decision_id = await record_decision(
            connection=connection, resident_id=args.resident, decided_on=args.on, decision=args.decision,
            criteria=args.criteria, reviewer=args.reviewer, follow_up_on=args.follow_up, recorded_by=args.reviewer,
            support_from=args.support_from, support_to=args.support_to)
    finally:
        await connection.close()
    sys.stdout.write(f"{decision_id}\n")
    return 0


async def trigger_handler(args: argparse.Namespace, settings: Settings) -> int:
    """Add a reactivation trigger."""
    await require_known(database_url=settings.database_url, orgs=[args.org],
                        residents=[args.resident] if args.resident else [])
    connection = await asyncpg.connect(settings.database_url)
    try:
        trigger_id = await add_trigger(
            connection=connection, org_id=args.org, resident_id=args.resident, name=args.name, feature=args.feature,
            comparison=args.comparison, threshold=args.threshold, min_nights=args.min_nights,
            window_nights=args.window_nights)
    finally:
        await connection.close()
    sys.stdout.write(f"{trigger_id}\n")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    rates = CostRates()
    parser.add_argument("--run", default="live", help="alert run to read (a rules replay writes its own)")
    parser.add_argument("--waking-night-rate", type=float, default=rates.waking_night_hourly, help="GBP per hour")
    parser.add_argument("--sleep-in-rate", type=float, default=rates.sleep_in_hourly, help="GBP per hour")
    parser.add_argument("--hours-per-night", type=float, default=rates.hours_per_night,
                        help="paid hours of a waking night or sleep-in (default %(default)s)")


def register(subparsers: Any) -> None:
    """Add `telecare report nightly|worker|pack|scheme|decide|trigger`."""
    report = subparsers.add_parser("report", help="night-time evidence for care reviews")
    sub = report.add_subparsers(dest="report_command", required=True)
    yesterday = date.today() - timedelta(days=1)

    nightly = sub.add_parser("nightly", help="compute and store nightly summaries; check reactivation triggers")
    who = nightly.add_mutually_exclusive_group(required=True)
    who.add_argument("--resident", action="append", default=[], metavar="ID", help="this resident (repeatable)")
    who.add_argument("--org", metavar="ORG", help="every resident of this organisation")
    nightly.add_argument("--from", dest="first", default=yesterday, help="first night, the evening's date "
                         "(default: yesterday)", **_DATE)
    nightly.add_argument("--to", dest="last", default=yesterday, help="last night, inclusive (default: yesterday)",
                         **_DATE)
    nightly.add_argument("--no-alerts", action="store_true", help="do not raise care-review alerts")
    _common(nightly)
    nightly.set_defaults(handler=nightly_handler)

    worker = sub.add_parser("worker", help="every morning, read each resident's night once it is over "
                                           "(also part of `telecare run`)")
    defaults = SchedulerOptions()
    worker.add_argument("--interval-s", type=float, default=defaults.interval_s,
                        help="seconds between rounds (default %(default)s)")
    worker.add_argument("--catch-up-nights", type=int, default=defaults.catch_up_nights,
                        help="nights to fill in after a pause (default %(default)s)")
    worker.add_argument("--org", help="only this organisation's residents")
    _common(worker)
    worker.set_defaults(handler=worker_handler)

    pack = sub.add_parser("pack", help="evidence pack for one resident and period")
    pack.add_argument("--resident", required=True, metavar="ID", help="the resident's id")
    pack.add_argument("--from", dest="first", required=True, help="first night of the period", **_DATE)
    pack.add_argument("--to", dest="last", required=True, help="last night of the period, inclusive", **_DATE)
    pack.add_argument("--baseline-from", help="first night of the comparison period (with --baseline-to)", **_DATE)
    pack.add_argument("--baseline-to", help="last night of the comparison period; it must end before --from",
                      **_DATE)
    pack.add_argument("--format", choices=FORMATS, default="json", help=_FORMAT_HELP)
    pack.add_argument("--out", type=Path, metavar="FILE", help="write here (default: standard output)")
    _common(pack)
    pack.set_defaults(handler=pack_handler)

    scheme = sub.add_parser("scheme", help="all residents of a provider: stable or needs review")
    scheme.add_argument("--org", required=True, metavar="ORG", help="the organisation's id")
    scheme.add_argument("--to", dest="last", default=yesterday, help="last night to judge (default: yesterday)",
                        **_DATE)
    scheme.add_argument("--format", choices=("json", "csv"), default="json", help="json (default) or csv")
    scheme.add_argument("--out", type=Path, metavar="FILE", help="write here (default: standard output)")
    _common(scheme)
    scheme.set_defaults(handler=scheme_handler)

    decide = sub.add_parser("decide", help="record a review decision")
    decide.add_argument("--resident", required=True, metavar="ID", help="the resident's id")
    decide.add_argument("--decision", choices=("reduce", "maintain", "reactivate"), required=True,
                        help="reduce, maintain or reactivate night support")
    decide.add_argument("--criteria", required=True, help="what the decision rests on, in words")
    decide.add_argument("--reviewer", required=True, help="who decided (name or staff id)")
    decide.add_argument("--follow-up", required=True, help="when to look again", **_DATE)
    decide.add_argument("--on", default=date.today(), help="date of the decision (default: today)", **_DATE)
    decide.add_argument("--support-from", choices=("waking_night", "sleep_in", "telecare_only"),
                        help="night support before the decision")
    decide.add_argument("--support-to", choices=("waking_night", "sleep_in", "telecare_only"),
                        help="night support after the decision")
    decide.set_defaults(handler=decide_handler)

    trigger = sub.add_parser("trigger", help="add a reactivation trigger (N nights in M)")
    trigger.add_argument("--org", required=True, metavar="ORG", help="the organisation the trigger belongs to")
    trigger.add_argument("--resident", metavar="ID", help="only this resident (default: every resident of --org)")
    trigger.add_argument("--name", required=True, help="a name people will recognise, e.g. \"left at night\"")
    trigger.add_argument("--feature", required=True,
                         help="nightly feature to watch, e.g. bed_exits, minutes_out_of_bed, door_exits")
    trigger.add_argument("--comparison", default=">=", choices=(">=", ">", "<=", "<"),
                         help="how the feature is compared with --threshold (default >=)")
    trigger.add_argument("--threshold", type=float, required=True, help="the value a night is compared with")
    trigger.add_argument("--min-nights", type=int, required=True, help="fires when this many nights match ...")
    trigger.add_argument("--window-nights", type=int, required=True, help="... within this many recent nights")
    trigger.set_defaults(handler=trigger_handler)
    register_models(subparsers)
