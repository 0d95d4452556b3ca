"""`telecare ingest`, `telecare stats` and `telecare dlq`."""

from __future__ import annotations

import argparse
from typing import Any

import asyncpg

from ingest.deadletters import discard_dead_letters, list_dead_letters, redrive_dead_letters
from ingest.stats import read_stats
from telecare.cli import print_json
from telecare.settings import Settings
from telecare.signals import stop_on_signals


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ingest subcommands."""
    ingest = subparsers.add_parser("ingest", help="consume MQTT into TimescaleDB")
    ingest.set_defaults(handler=_ingest)

    stats = subparsers.add_parser("stats", help="events stored, duplicates dropped, dead letters by reason")
    stats.add_argument("--json", action="store_true", help="print JSON (the default, kept for scripts)")
    stats.set_defaults(handler=_stats)

    dlq = subparsers.add_parser("dlq", help="dead letters: list, re-drive, discard")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, handler, help_text in (
        ("list", _dlq_list, "list pending dead letters"),
        ("redrive", _dlq_redrive, "run pending dead letters through ingest again (after fixing the cause)"),
        ("discard", _dlq_discard, "mark pending dead letters as discarded"),
    ):
        command = dlq_sub.add_parser(name, help=help_text)
        command.add_argument("--reason", default=None, help="only dead letters with this reason")
        command.add_argument("--id", type=int, action="append", dest="ids", help="only these ids")
        command.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
        command.set_defaults(handler=handler)


async def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.service import run_ingest  # noqa: PLC0415 - heavy: only when serving

    # SIGTERM and SIGINT finish the batch in hand, then stop.
    stop = stop_on_signals()
    await run_ingest(settings=settings, stop=stop)
    return 0


async def _stats(args: argparse.Namespace, settings: Settings) -> int:
    connection = await asyncpg.connect(settings.database_url)
    try:
        print_json(await read_stats(connection=connection))
    finally:
        await connection.close()
    return 0


async def _dlq_list(args: argparse.Namespace, settings: Settings) -> int:
    connection = await asyncpg.connect(settings.database_url)
    try:
        print_json(await list_dead_letters(connection=connection, reason=args.reason, ids=args.ids,
                                           limit=args.limit))
    finally:
        await connection.close()
    return 0


async def _dlq_redrive(args: argparse.Namespace, settings: Settings) -> int:
    connection = await asyncpg.connect(settings.database_url)
    try:
        print_json(await redrive_dead_letters(connection=connection, settings=settings, reason=args.reason,
                                              ids=args.ids, limit=args.limit))
    finally:
        await connection.close()
    return 0


async def _dlq_discard(args: argparse.Namespace, settings: Settings) -> int:
    connection = await asyncpg.connect(settings.database_url)
    try:
        print_json({"discarded": await discard_dead_letters(connection=connection, reason=args.reason,
                                                            ids=args.ids, limit=args.limit)})
    finally:
        await connection.close()
    return 0
