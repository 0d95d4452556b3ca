"""`telecare models ...`: daily features, training, scoring and the review-suggestion queue (outside ingest)."""

from __future__ import annotations

import argparse
from datetime import date, timedelta

import asyncpg

from models.change_store import (
    SuggestionNotOpenError,
    list_suggestions,
    review_suggestion,
    score_and_suggest,
    train_and_store,
)
from models.config import EvidenceConfig
from models.feature_store import compute_features, store_features
from models.nightly import load_resident
from telecare.cli import iso_date, print_json
from telecare.db.connection import connected
from telecare.settings import Settings


async def _residents(connection: asyncpg.Connection, args: argparse.Namespace) -> list[str]:
    if getattr(args, "resident", None):
        return list(args.resident)
    return [r["resident_id"] for r in await connection.fetch(
        "SELECT resident_id FROM residents WHERE org_id = $1 ORDER BY resident_id", args.org)]


async def features_handler(args: argparse.Namespace, settings: Settings) -> int:
    """Compute and store daily features for a range."""
    config = EvidenceConfig(alerts_run=args.run)
    async with connected(database_url=settings.database_url) as connection:
        done = {}
        for resident_id in await _residents(connection, args):
            resident = await load_resident(connection=connection, resident_id=resident_id)
            if resident is None:
                continue
            features = await compute_features(connection=connection, resident=resident, first=args.first,
                                              last=args.last, config=config)
            done[resident_id] = await store_features(connection=connection, features=features)
    print_json({"days_stored": done})
    return 0


async def train_handler(args: argparse.Namespace, settings: Settings) -> int:
    """Train a new model version per resident (or say "not enough data")."""
    rules = EvidenceConfig().detector
    async with connected(database_url=settings.database_url) as connection:
        out = []
        for resident_id in await _residents(connection, args):
            model_id, version, status = await train_and_store(connection=connection, resident_id=resident_id,
                                                              as_of=args.as_of, rules=rules)
            out.append({"resident_id": resident_id, "model_id": model_id, "version": version, "status": status})
    print_json(out)
    return 0


async def score_handler(args: argparse.Namespace, settings: Settings) -> int:
    """Score every resident's latest window; persistent changes open review suggestions."""
    async with connected(database_url=settings.database_url) as connection:
        outcome = await score_and_suggest(connection=connection, resident_ids=await _residents(connection, args),
                                          day=args.day, rules=EvidenceConfig().detector)
    print_json(outcome)
    return 0


async def suggestions_handler(args: argparse.Namespace, settings: Settings) -> int:
    """List review suggestions, open ones first."""
    async with connected(database_url=settings.database_url) as connection:
        rows = await list_suggestions(connection=connection, org_id=args.org, resident_id=args.resident_one,
                                      status=args.status)
    print_json(rows)
    return 0


async def review_handler(args: argparse.Namespace, settings: Settings) -> int:
    """Confirm or dismiss one open suggestion."""
    async with connected(database_url=settings.database_url) as connection:
        try:
            await review_suggestion(connection=connection, suggestion_id=args.id, decision=args.decision,
                                    reviewer=args.reviewer, note=args.note)
        except SuggestionNotOpenError:
            raise SystemExit(f"no open suggestion {args.id}") from None
    return 0


def register_models(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `telecare models ...`."""
    models = subparsers.add_parser("models", help="change detection: features, training, scoring, suggestions")
    sub = models.add_subparsers(dest="models_command", required=True)
    yesterday = date.today() - timedelta(days=1)

    def who(parser: argparse.ArgumentParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--resident", action="append", default=[], help="a resident id (repeat for several)")
        group.add_argument("--org", help="every resident of this organisation")

    features = sub.add_parser("features", help="compute and store daily features")
    who(features)
    features.add_argument("--from", dest="first", default=yesterday, help="first day (default yesterday)",
                          type=iso_date, metavar="YYYY-MM-DD")
    features.add_argument("--to", dest="last", default=yesterday, help="last day (default yesterday)",
                          type=iso_date, metavar="YYYY-MM-DD")
    features.add_argument("--run", default="live", help="whose alerts the nights count (a replay's run name)")
    features.set_defaults(handler=features_handler)

    train = sub.add_parser("train", help="train a new model version per resident, stored with its window")
    who(train)
    train.add_argument("--as-of", default=yesterday, help="train on the days up to this one (default yesterday)",
                       type=iso_date, metavar="YYYY-MM-DD")
    train.set_defaults(handler=train_handler)

    score = sub.add_parser("score", help="score the latest day; persistent changes become review suggestions")
    who(score)
    score.add_argument("--day", default=yesterday, help="the day to score (default yesterday)",
                       type=iso_date, metavar="YYYY-MM-DD")
    score.set_defaults(handler=score_handler)

    listing = sub.add_parser("suggestions", help="the review-suggestion queue")
    listing.add_argument("--org", help="only this organisation's suggestions")
    listing.add_argument("--resident", dest="resident_one", help="only this resident's suggestions")
    listing.add_argument("--status", choices=("open", "confirmed", "dismissed"), help="only suggestions in this state")
    listing.set_defaults(handler=suggestions_handler)

    review = sub.add_parser("review", help="confirm or dismiss a suggestion (shown with the answer next time)")
    review.add_argument("--id", type=int, required=True,
                        help="the suggestion's id (from `telecare models suggestions`)")
    review.add_argument("--decision", choices=("confirmed", "dismissed"), required=True,
                        help="confirmed: a real change to review; dismissed: not a concern")
    review.add_argument("--reviewer", required=True, help="who answers (name and role)")
    review.add_argument("--note", help="why, in the reviewer's words")
    review.set_defaults(handler=review_handler)
