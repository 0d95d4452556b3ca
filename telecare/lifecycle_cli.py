"""`telecare lifecycle`: retention per data class, subject-access export and erasure of one resident."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from telecare.cli import print_json
from telecare.db.connection import connected
from telecare.retention import DATA_CLASSES, apply_retention, policies, set_policy
from telecare.settings import Settings
from telecare.signals import stop_on_signals
from telecare.subject_access import SubjectAccessError, erase_resident, export_resident


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `lifecycle` subcommands."""
    lifecycle = subparsers.add_parser("lifecycle", help="retention, subject-access export, erasure")
    sub = lifecycle.add_subparsers(dest="lifecycle_command", required=True)
    retention = sub.add_parser("retention", help="remove what each data class keeps no longer (audited)")
    retention.add_argument("--every-hours", type=float, default=None,
                           help="keep running and apply retention this often (the compose service)")
    retention.set_defaults(handler=_retention)
    keep = sub.add_parser("keep", help="show or set how long a data class is kept")
    keep.add_argument("data_class", nargs="?", choices=DATA_CLASSES, help="the data class (omit to list all)")
    keep.add_argument("days", nargs="?", type=int, help="days to keep it (omit to show)")
    keep.set_defaults(handler=_keep)
    for name, handler, help_text in (
        ("export", _export, "every row naming one resident, as JSON (subject access; audited)"),
        ("erase", _erase, "remove every row of one resident (erasure; audited, all or nothing)"),
    ):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--resident", required=True, help="the resident's id")
        command.add_argument("--case", required=True, dest="case_reference", help="the request's case reference")
        command.add_argument("--actor", required=True, help="who carries it out (for the audit log)")
        if name == "export":
            command.add_argument("--out", type=Path, required=True, help="file to write (owner-only)")
        else:
            command.add_argument("--confirm", required=True, help="the resident id again")
        command.set_defaults(handler=handler)


async def _retention(args: argparse.Namespace, settings: Settings) -> int:
    stop = stop_on_signals()
    while True:
        async with connected(database_url=settings.database_url) as connection:
            print_json([asdict(outcome) for outcome in await apply_retention(connection=connection)])
        if args.every_hours is None:
            return 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=args.every_hours * 3600)
        if stop.is_set():
            return 0


async def _keep(args: argparse.Namespace, settings: Settings) -> int:
    async with connected(database_url=settings.database_url) as connection:
        if args.data_class is not None and args.days is not None:
            await set_policy(connection=connection, data_class=args.data_class, keep=timedelta(days=args.days))
        print_json({name: keep.days for name, keep in (await policies(connection=connection)).items()})
    return 0


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    async with connected(database_url=settings.database_url) as connection:
        export = await export_resident(connection=connection, resident_id=args.resident, actor=args.actor,
                                       case_reference=args.case_reference)
    descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(export, handle, indent=1, default=str)
    print_json({"written": str(args.out), "rows": {table: len(rows) for table, rows in export["tables"].items()}})
    return 0


async def _erase(args: argparse.Namespace, settings: Settings) -> int:
    if args.confirm != args.resident:
        raise SubjectAccessError("--confirm must repeat the resident id")
    async with connected(database_url=settings.database_url) as connection:
        erasure = await erase_resident(connection=connection, resident_id=args.resident, actor=args.actor,
                                       case_reference=args.case_reference)
    print_json(asdict(erasure))
    return 0
