"""`telecare broker credentials` and `telecare broker rotate`: the production broker's users and ACL."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from telecare.broker_access import BrokerTopics, rotate_credential, update_access
from telecare.cli import existing_file, print_json
from telecare.settings import Settings
from telecare.site import load_site_file


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `broker` subcommands."""
    broker = subparsers.add_parser("broker", help="production broker: per-hub credentials and the ACL")
    broker_sub = broker.add_subparsers(dest="broker_command", required=True)
    credentials = broker_sub.add_parser(
        "credentials", help="passwd and acl for every hub in the site files and the service's clients")
    credentials.add_argument("--site", type=existing_file, action="append", required=True,
                             help="a site file (repeat for every organisation the broker serves)")
    credentials.add_argument("--dir", type=Path, required=True, help="the broker's config directory")
    credentials.add_argument("--ingest-user", action="append", dest="ingest_users",
                             help="one per ingest worker (default: telecare-ingest)")
    credentials.set_defaults(handler=_credentials)
    rotate = broker_sub.add_parser("rotate", help="a new password for one hub or service client")
    rotate.add_argument("--dir", type=Path, required=True,
                        help="the folder `telecare broker credentials` wrote (password file and ACL)")
    rotate.add_argument("--user", required=True, help="the broker user (a hub id or a service client) to rotate")
    rotate.set_defaults(handler=_rotate)


async def _credentials(args: argparse.Namespace, settings: Settings) -> int:
    sites = [load_site_file(path=path) for path in args.site]
    change = update_access(
        directory=args.dir, sites=sites, ingest_users=args.ingest_users or ["telecare-ingest"],
        topics=BrokerTopics(z2m_base=settings.z2m_base_topic, canonical_base=settings.canonical_base_topic),
    )
    print_json(asdict(change))
    return 0


async def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    print_json(asdict(rotate_credential(directory=args.dir, user=args.user)))
    return 0
