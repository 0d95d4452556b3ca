"""`telecare rules` (the worker), `telecare rules replay`, `telecare alerts` and `telecare kpi`."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from rules.kpi import compute_kpis
from rules.lifecycle import list_queue
from rules.replay import replay_history
from rules.replay_operator import SimulatedOperator
from telecare.cli import CommandError, print_json, print_table, progress_bar, require_known
from telecare.settings import Settings
from telecare.signals import stop_on_signals


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not a date or time: {value!r} (write YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC unless an offset is given)"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `rules`, `alerts` and `kpi` subcommands."""
    rules = subparsers.add_parser("rules", help="run the rules worker, or replay stored history")
    rules.add_argument("--run", default="live", help=argparse.SUPPRESS)
    rules.set_defaults(handler=_worker)
    rules_sub = rules.add_subparsers(dest="rules_command")
    replay = rules_sub.add_parser("replay", help="process stored events on event time into a replay run")
    replay.add_argument("--from", dest="since", type=_instant, required=True, metavar="WHEN",
                        help="start of the period, event time: YYYY-MM-DD or YYYY-MM-DDTHH:MM[+01:00] "
                             "(UTC if no offset)")
    replay.add_argument("--to", dest="until", type=_instant, required=True, metavar="WHEN",
                        help="end of the period (exclusive), same format as --from")
    replay.add_argument("--resident", action="append", dest="residents", metavar="ID",
                        help="only this resident (repeat for several; default: everyone)")
    replay.add_argument("--json", action="store_true",
                        help="print the whole result, with every alert per night, as JSON (default: a summary table)")
    replay.add_argument("--name", default=None, help="run name (default replay-<now>)")
    replay.add_argument("--operator-close-min", type=float, default=0.0, metavar="MINUTES",
                        help="a simulated operator answers each alert after 30 s and closes it this many"
                             " event-time minutes after it is raised (default 0: alerts stay open)")
    replay.set_defaults(handler=_replay)

    alerts = subparsers.add_parser("alerts", help="the live alert queue")
    alerts.add_argument("--org", default=None, metavar="ORG", help="only this organisation's alerts")
    alerts.add_argument("--limit", type=int, default=50, help="at most this many, most urgent first (default 50)")
    alerts.add_argument("--json", action="store_true", help="JSON for scripts (default: a table)")
    alerts.set_defaults(handler=_alerts)

    kpi = subparsers.add_parser("kpi", help="control-centre KPIs")
    kpi.add_argument("--from", dest="since", type=_instant, default=datetime(1970, 1, 1, tzinfo=UTC), metavar="WHEN",
                     help="alerts queued from: YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC; default: all time)")
    kpi.add_argument("--to", dest="until", type=_instant, default=datetime(2100, 1, 1, tzinfo=UTC), metavar="WHEN",
                     help="alerts queued before, same format (default: no end)")
    kpi.add_argument("--json", action="store_true", help="JSON output (the only format)")
    kpi.set_defaults(handler=_kpi)


async def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from rules.worker import run_rules_worker  # noqa: PLC0415 - heavy: only when serving

    stop = stop_on_signals()
    await run_rules_worker(settings=settings, stop=stop, run=args.run)
    return 0


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    run = args.name or f"replay-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    connection = await asyncpg.connect(settings.database_url)
    if args.until <= args.since:
        raise CommandError("--to must be after --from")
    try:
        if args.residents:
            await require_known(database_url=settings.database_url, residents=args.residents)
        close_after = timedelta(minutes=args.operator_close_min)
        operator = (SimulatedOperator(close_after=close_after, answer_after=min(close_after, timedelta(seconds=30)))
                    if args.operator_close_min > 0 else None)
        span = (args.until - args.since).total_seconds()
        with progress_bar(description="replaying") as bar:
            task = bar.add_task("replay", total=span, status="")

            def advance(moment: datetime) -> None:
                bar.update(task, completed=min(span, (moment - args.since).total_seconds()),
                           status=f"{moment:%Y-%m-%d %H:%M}")

            summary = await replay_history(connection=connection, run=run, since=args.since, until=args.until,
                                           resident_ids=args.residents, operator=operator, progress=advance)
            bar.update(task, completed=span, status="done")
        rows = await connection.fetch(
            "SELECT a.alert_id, a.resident_id, a.condition, a.raised_at, a.repeat_count, r.timezone, r.night_start"
            " FROM alerts a LEFT JOIN residents r USING (resident_id) WHERE a.run = $1 ORDER BY a.raised_at",
            run,
        )
    finally:
        await connection.close()
    per_night: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        local = row["raised_at"].astimezone(_zone(row["timezone"]))
        # A night is named by the evening it starts on: anything before noon belongs to the previous date.
        night = (local.date() if local.hour >= 12 else local.date().fromordinal(local.date().toordinal() - 1))
        per_night.setdefault(night.isoformat(), []).append(
            {"alert_id": row["alert_id"], "resident_id": row["resident_id"], "condition": row["condition"],
             "raised_at": local.isoformat(), "repeats": row["repeat_count"]}
        )
    counts = [len(v) for v in per_night.values()]
    result = {"run": run, "events": summary.events, "alerts": len(rows),
              "closed_by_operator": summary.closed_by_operator, "nights_with_alerts": len(per_night),
              "max_alerts_in_a_night": max(counts, default=0), "per_night": per_night}
    if args.json:
        print_json(result)
    else:
        print_table(title=f"rules replay {run}: {summary.events} events, {len(rows)} alerts",
                    rows=[{"night": night, "alerts": len(alerts),
                           "conditions": ", ".join(sorted({a["condition"] for a in alerts}))}
                          for night, alerts in sorted(per_night.items())],
                    columns=[("night", "night of"), ("alerts", "alerts"), ("conditions", "conditions")])
    return 0


def _zone(name: str | None) -> Any:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    return ZoneInfo(name or "UTC")


async def _alerts(args: argparse.Namespace, settings: Settings) -> int:
    connection = await asyncpg.connect(settings.database_url)
    try:
        if args.org:
            await require_known(database_url=settings.database_url, orgs=[args.org])
        queue = await list_queue(connection=connection, org_id=args.org, limit=args.limit)
    finally:
        await connection.close()
    views = [asdict(view) for view in queue]
    if args.json:
        print_json(views)
        return 0
    for view in views:
        view["waiting"] = _waiting(view["queued_at"])
    print_table(title=f"alert queue: {len(views)} open", rows=views, columns=[
        ("alert_id", "id"), ("priority", "P"), ("condition", "condition"), ("resident_id", "resident"),
        ("status", "status"), ("waiting", "waiting"), ("claimed_by", "claimed by")])
    return 0


def _waiting(queued_at: datetime) -> str:
    seconds = int((datetime.now(UTC) - queued_at).total_seconds())
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m {seconds % 60:02d}s"


async def _kpi(args: argparse.Namespace, settings: Settings) -> int:
    connection = await asyncpg.connect(settings.database_url)
    try:
        print_json(await compute_kpis(connection=connection, since=args.since, until=args.until))
    finally:
        await connection.close()
    return 0
