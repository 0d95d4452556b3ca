"""The `telecare` console script: one subcommand per job, each package registering its own."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from telecare.settings import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)

CommandHandler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]

# Packages that add subcommands: each has a `cli` module with `register(subparsers)`.
_COMMAND_MODULES = (
    "telecare.admin_cli", "telecare.broker_cli", "telecare.lifecycle_cli", "telecare.run_cli", "ingest.cli",
    "simulators.cli", "rules.cli", "api.cli", "models.cli",
)


class CommandError(Exception):
    """A command cannot do what was asked (unknown id, bad period...): one line for the user, exit 1."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every installed package's subcommands."""
    parser = argparse.ArgumentParser(
        prog="telecare", description=__doc__,
        epilog="Every command reads TELECARE_* environment variables (see README). Dates are YYYY-MM-DD.")
    parser.add_argument("--log-level", default=None, metavar="LEVEL",
                        help="DEBUG, INFO, WARNING or ERROR; overrides TELECARE_LOG_LEVEL (DEBUG also prints "
                             "tracebacks of failed commands)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.register(subparsers)
    return parser


def print_json(value: object) -> None:
    """Write one JSON document to standard output (the CLI's machine-readable answers)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str, sort_keys=True) + "\n")


def main(argv: list[str] | None = None, *, overrides: dict[str, object] | None = None) -> int:
    """Entry point of the `telecare` command (`overrides` replace environment settings, for tests)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(**(overrides or {}))
    except SettingsError as exc:
        sys.stderr.write(f"telecare: configuration error: {exc}\n")
        return 2
    logging.basicConfig(
        level=args.log_level or settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: CommandHandler = args.handler
    try:
        return asyncio.run(handler(args, settings))
    except KeyboardInterrupt:
        return 130
    except CommandError as exc:
        return _fail(f"{exc}")
    except (OSError, asyncpg.CannotConnectNowError, asyncpg.InvalidCatalogNameError) as exc:
        log.debug("command failed", exc_info=True)
        return _fail(f"cannot reach a service it needs ({type(exc).__name__}: {exc}); is PostgreSQL running and "
                     f"TELECARE_DATABASE_URL / TELECARE_MQTT_URL right?")
    except Exception as exc:
        # Anything else is a bug or an environment problem: one line for the user, the traceback on request.
        log.debug("command failed", exc_info=True)
        return _fail(f"{type(exc).__name__}: {exc} (run with --log-level DEBUG for the traceback)")


def _fail(message: str) -> int:
    sys.stderr.write(f"telecare: error: {message}\n")
    return 1


def iso_date(value: str) -> date:
    """argparse type: a calendar date written YYYY-MM-DD."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (write it YYYY-MM-DD)") from exc


def print_table(*, rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str = "") -> None:
    """A table for people: `columns` are (key, heading); the machine-readable form is each command's --json."""
    table = Table(title=title or None, show_lines=False, header_style="bold")
    for _, heading in columns:
        table.add_column(heading)
    for row in rows:
        table.add_row(*("" if row.get(key) is None else str(row.get(key)) for key, _ in columns))
    Console().print(table)
    if not rows:
        sys.stdout.write("(none)\n")


async def require_known(*, database_url: str, residents: Sequence[str] = (), orgs: Sequence[str] = ()) -> None:
    """Refuse ids that are not in the database, before a command works on nothing and says nothing."""
    connection = await asyncpg.connect(database_url)
    try:
        for resident_id in residents:
            if not await connection.fetchval("SELECT 1 FROM residents WHERE resident_id = $1", resident_id):
                raise CommandError(f"no resident {resident_id!r} in the database")
        for org_id in orgs:
            if not await connection.fetchval("SELECT 1 FROM organisations WHERE org_id = $1", org_id):
                raise CommandError(f"no organisation {org_id!r} in the database")
    finally:
        await connection.close()


def existing_file(value: str) -> Path:
    """argparse type: a path that must exist."""
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value}")
    return path


def progress_bar(*, description: str) -> Progress:
    """A rich progress bar on standard error (standard output stays clean for JSON); use as a context manager."""
    return Progress(TextColumn(description), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[status]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True))
