"""The `telecare` console script: one subcommand per job, each package registering its own."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from telecare.settings import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)

CommandHandler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]

# Packages that add subcommands: each has a `cli` module with `register(subparsers)`.
_COMMAND_MODULES = (
    "telecare.admin_cli", "telecare.broker_cli", "telecare.lifecycle_cli", "telecare.run_cli", "ingest.cli",
    "simulators.cli", "rules.cli", "api.cli", "models.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every installed package's subcommands."""
    parser = argparse.ArgumentParser(prog="telecare", description=__doc__)
    parser.add_argument("--log-level", default=None, help="override TELECARE_LOG_LEVEL")
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `telecare` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
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


def existing_file(value: str) -> Path:
    """argparse type: a path that must exist."""
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value}")
    return path
