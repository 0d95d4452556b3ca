"""`telecare api` (serve the API and console) and `telecare token create|list|revoke` (bearer tokens)."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from api.auth import Role, UnknownReferenceError, issue_token
from api.queries import access as access_queries
from telecare.cli import print_json
from telecare.settings import Settings
from telecare.signals import stop_on_signals

_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def _user_name(value: str) -> str:
    if not _USER.match(value):
        raise argparse.ArgumentTypeError("user names are letters, digits and . _ @ - (up to 64)")
    return value


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `api` and `token` subcommands."""
    api = subparsers.add_parser("api", help="serve the control-centre API and web console")
    api.add_argument("--host", default=None, help="override TELECARE_API_HOST")
    api.add_argument("--port", type=int, default=None, help="override TELECARE_API_PORT")
    api.set_defaults(handler=_serve)

    token = subparsers.add_parser("token", help="API bearer tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="issue a token (printed once; only its hash is stored)")
    create.add_argument("--role", required=True, choices=[role.value for role in Role],
                        help="operator (control centre), provider (care staff), reviewer (social worker) or admin")
    create.add_argument("--org", action="append", default=[], dest="orgs",
                        help="organisation served (operator: repeat for each; provider: their own)")
    create.add_argument("--user", type=_user_name, default=None, help="user name (default: <role>-<org>)")
    create.add_argument("--name", default=None, help="display name")
    create.add_argument("--residents", nargs="*", default=[], help="reviewer: the residents assigned")
    create.add_argument("--expires-days", type=int, default=90, help="days until the token stops working (default 90)")
    create.set_defaults(handler=_create_token)
    listing = token_sub.add_parser("list", help="tokens issued (never the tokens themselves)")
    listing.add_argument("--user", type=_user_name, default=None, help="only this user's tokens")
    listing.set_defaults(handler=_list_tokens)
    revoke = token_sub.add_parser("revoke", help="revoke one token by id, or every token of a user")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, dest="token_id", help="the token's id (from `telecare token list`)")
    which.add_argument("--user", type=_user_name, help="revoke every token of this user")
    revoke.set_defaults(handler=_revoke_tokens)


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from api.main import serve_api  # noqa: PLC0415 - heavy: only when serving

    overrides = {k: v for k, v in (("api_host", args.host), ("api_port", args.port)) if v is not None}
    effective = settings.model_copy(update=overrides) if overrides else settings
    stop = stop_on_signals()
    await serve_api(settings=effective, stop=stop)
    return 0


async def _create_token(args: argparse.Namespace, settings: Settings) -> int:
    role = Role(args.role)
    if role in (Role.OPERATOR, Role.PROVIDER, Role.REVIEWER) and not args.orgs:
        sys.stderr.write("telecare token create: --org is required for this role\n")
        return 2
    if role is Role.PROVIDER and len(args.orgs) != 1:
        sys.stderr.write("telecare token create: provider staff belong to exactly one --org\n")
        return 2
    if role is Role.REVIEWER and not args.residents:
        sys.stderr.write("telecare token create: reviewers need --residents\n")
        return 2
    user = args.user or f"{role.value}-{args.orgs[0] if args.orgs else 'all'}"
    connection = await asyncpg.connect(settings.database_url)
    try:
        token = await issue_token(
            connection=connection, user_id=user, role=role,
            org_ids=list(args.orgs), resident_ids=list(args.residents),
            display_name=args.name, label="cli",
            expires_at=datetime.now(UTC) + timedelta(days=args.expires_days) if args.expires_days > 0 else None,
        )
    except UnknownReferenceError as exc:
        sys.stderr.write(f"telecare token create: {exc}\n")
        return 2
    finally:
        await connection.close()
    sys.stdout.write(token + "\n")
    return 0


async def _list_tokens(args: argparse.Namespace, settings: Settings) -> int:
    connection = await asyncpg.connect(settings.database_url)
    try:
        rows = await connection.fetch(access_queries.LIST_TOKENS, args.user)
    finally:
        await connection.close()
    print_json([dict(row) for row in rows])
    return 0


async def _revoke_tokens(args: argparse.Namespace, settings: Settings) -> int:
    connection = await asyncpg.connect(settings.database_url)
    try:
        rows = await connection.fetch(access_queries.REVOKE_TOKENS, args.token_id, args.user)
    finally:
        await connection.close()
    print_json({"revoked": [row["token_id"] for row in rows]})
    return 0
