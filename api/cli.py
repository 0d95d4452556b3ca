"""`telecare api` (serve the API and console), `telecare token create|list|revoke` and `telecare user update`."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from api import audit
from api.access_admin import InvalidScopeError, UnknownUserError, change_user_scope, cli_actor
from api.auth import ExistingUserError, Role, UnknownReferenceError, UserScope, issue_token
from api.queries import access as access_queries
from telecare.cli import print_json
from telecare.settings import Settings
from telecare.signals import stop_on_signals

_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# A token that never expires outlives the job, the laptop and the person it was given to; there is no
# way to ask for one. A year at most: rotate by issuing a new token and revoking the old.
MAX_EXPIRY_DAYS = 365


def _user_name(value: str) -> str:
    if not _USER.match(value):
        raise argparse.ArgumentTypeError("user names are letters, digits and . _ @ - (up to 64)")
    return value


def _expiry_days(value: str) -> int:
    try:
        days = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("a whole number of days") from exc
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise argparse.ArgumentTypeError(f"tokens expire after 1 to {MAX_EXPIRY_DAYS} days; none lives for ever")
    return days


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
    create.add_argument("--expires-days", type=_expiry_days, default=90,
                        help=f"1 to {MAX_EXPIRY_DAYS} (default 90); there are no never-expiring tokens")
    create.set_defaults(handler=_create_token)
    listing = token_sub.add_parser("list", help="tokens issued (never the tokens themselves)")
    listing.add_argument("--user", type=_user_name, default=None, help="only this user's tokens")
    listing.set_defaults(handler=_list_tokens)
    revoke = token_sub.add_parser("revoke", help="revoke one token by id, or every token of a user")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, dest="token_id", help="the token's id (from `telecare token list`)")
    which.add_argument("--user", type=_user_name, help="revoke every token of this user")
    revoke.set_defaults(handler=_revoke_tokens)

    user = subparsers.add_parser("user", help="API users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    update = user_sub.add_parser("update", help="change a user's role, organisations or residents (audited)")
    update.add_argument("--user", type=_user_name, required=True, help="the user to change")
    update.add_argument("--role", choices=[role.value for role in Role], default=None,
                        help="the role from now on (unchanged when omitted)")
    update.add_argument("--org", action="append", default=None, dest="orgs",
                        help="the organisations from now on (repeat; replaces the current ones)")
    update.add_argument("--residents", nargs="*", default=None, help="reviewer: the residents from now on")
    update.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    update.set_defaults(handler=_update_user)


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from api.main import serve_api  # noqa: PLC0415 - heavy: only when serving

    overrides = {k: v for k, v in (("api_host", args.host), ("api_port", args.port)) if v is not None}
    effective = settings.model_copy(update=overrides) if overrides else settings
    stop = stop_on_signals()
    await serve_api(settings=effective, stop=stop)
    return 0


async def _create_token(args: argparse.Namespace, settings: Settings) -> int:
    role = Role(args.role)
    problem = UserScope.of(role=role, org_ids=args.orgs, resident_ids=args.residents).problem()
    if problem is not None:
        sys.stderr.write(f"telecare token create: {problem}\n")
        return 2
    user = args.user or f"{role.value}-{args.orgs[0] if args.orgs else 'all'}"
    expires_at = datetime.now(UTC) + timedelta(days=args.expires_days)
    connection = await asyncpg.connect(settings.database_url)
    try:
        token = await issue_token(
            connection=connection, user_id=user, role=role,
            org_ids=list(args.orgs), resident_ids=list(args.residents),
            display_name=args.name, label="cli", expires_at=expires_at,
        )
        await audit.record(connection=connection, principal=cli_actor(), action="tokens.create",
                           resource_type="user", resource_id=user, client="cli",
                           detail={"expires_at": expires_at.isoformat()})
    except (UnknownReferenceError, ExistingUserError) as exc:
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
        await audit.record(connection=connection, principal=cli_actor(), action="tokens.revoke",
                           resource_type="user", resource_id=args.user, client="cli",
                           detail={"token_ids": [row["token_id"] for row in rows]})
    finally:
        await connection.close()
    print_json({"revoked": [row["token_id"] for row in rows]})
    return 0


async def _update_user(args: argparse.Namespace, settings: Settings) -> int:
    connection = await asyncpg.connect(settings.database_url)
    try:
        change = await change_user_scope(
            connection=connection, user_id=args.user, role=Role(args.role) if args.role else None,
            org_ids=args.orgs, resident_ids=args.residents, actor=cli_actor(), apply=not args.dry_run)
    except (UnknownUserError, InvalidScopeError, UnknownReferenceError) as exc:
        sys.stderr.write(f"telecare user update: {exc}\n")
        return 2
    finally:
        await connection.close()
    changes = change.as_dict()
    print_json({"user": args.user, "before": change.before.describe(), "after": change.after.describe(),
                "changes": changes, "applied": bool(changes) and not args.dry_run})
    return 0
