"""Subcommands for the database and the registry: `telecare db migrate`, `telecare site import`."""

from __future__ import annotations

import argparse
from typing import Any

import asyncpg

from telecare.cli import existing_file, print_json
from telecare.db.migrate import ensure_database, migrate
from telecare.settings import Settings
from telecare.site import load_site_file, provision_site


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `db` and `site` subcommands."""
    db = subparsers.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    migrate_cmd = db_sub.add_parser("migrate", help="create the database if needed and apply migrations")
    migrate_cmd.set_defaults(handler=_migrate)

    site = subparsers.add_parser("site", help="organisations, residents, hubs and devices")
    site_sub = site.add_subparsers(dest="site_command", required=True)
    import_cmd = site_sub.add_parser("import", help="provision a site file (YAML or JSON)")
    import_cmd.add_argument("file", type=existing_file,
                            help="the site file (.yaml, .yml or .json); see docs/simulators.md")
    import_cmd.set_defaults(handler=_site_import)


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    created = await ensure_database(database_url=settings.database_url)
    applied = await migrate(database_url=settings.database_url)
    print_json({"database_created": created, "migrations_applied": applied})
    return 0


async def _site_import(args: argparse.Namespace, settings: Settings) -> int:
    site = load_site_file(path=args.file)
    connection = await asyncpg.connect(settings.database_url)
    try:
        counts = await provision_site(connection=connection, site=site)
    finally:
        await connection.close()
    print_json({"organisation": site.organisation.id, **counts})
    return 0
