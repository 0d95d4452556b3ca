"""Models and review suggestions in the database: train and store, score many residents, the review queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import asyncpg

from models.changes import explain, persistent, score_day, train_on
from models.config import DetectorRules, EvidenceConfig
from models.detector import DETECTOR, ChangeModel, NotEnoughData
from models.feature_store import load_features, load_features_of_many

INSERT_MODEL = """
INSERT INTO change_models (resident_id, detector, version, train_first, train_last, days_used, status, params)
SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5, $6, $7::jsonb
FROM change_models WHERE resident_id = $1 AND detector = $2
RETURNING model_id, version
"""

LATEST_MODELS = """
SELECT DISTINCT ON (resident_id) model_id, resident_id, version, train_first, train_last, days_used, status, params
FROM change_models WHERE resident_id = ANY($1::text[]) AND detector = $2
ORDER BY resident_id, version DESC
"""

# Days under review (open or confirmed) stay out of training; a dismissed suggestion was the usual after all.
UNDER_REVIEW = """
SELECT first_day, since, last_day FROM review_suggestions WHERE resident_id = $1 AND status <> 'dismissed'
"""

OPEN_SUGGESTIONS = """
SELECT suggestion_id, resident_id FROM review_suggestions WHERE resident_id = ANY($1::text[]) AND status = 'open'
"""

RAISE_SUGGESTION = """
INSERT INTO review_suggestions (resident_id, org_id, model_id, detector, first_day, last_day, since, score, threshold,
                                explanation, changes)
SELECT $1, r.org_id, $2, $3, $4, $4, $5, $6, $7, $8, $9::jsonb FROM residents r WHERE r.resident_id = $1
"""

EXTEND_SUGGESTION = """
UPDATE review_suggestions SET last_day = greatest(last_day, $2), score = greatest(score, $3),
    explanation = CASE WHEN $3 >= score THEN $4 ELSE explanation END,
    changes = CASE WHEN $3 >= score THEN $5::jsonb ELSE changes END
WHERE suggestion_id = $1
"""

LIST_SUGGESTIONS = """
SELECT s.*, m.version, m.train_first, m.train_last FROM review_suggestions s JOIN change_models m USING (model_id)
WHERE ($1::text IS NULL OR s.org_id = $1) AND ($2::text IS NULL OR s.resident_id = $2)
  AND ($3::text IS NULL OR s.status = $3)
ORDER BY s.status = 'open' DESC, s.last_day DESC, s.suggestion_id DESC
"""

REVIEW = """
UPDATE review_suggestions SET status = $2, reviewed_by = $3, reviewed_at = now(), review_note = $4
WHERE suggestion_id = $1 AND status = 'open'
RETURNING suggestion_id
"""


class SuggestionNotOpenError(LookupError):
    """No open suggestion with that id (unknown, or already confirmed or dismissed)."""


async def _under_review(*, connection: asyncpg.Connection, resident_id: str) -> set[date]:
    days: set[date] = set()
    for row in await connection.fetch(UNDER_REVIEW, resident_id):
        day = min(row["since"], row["first_day"])
        while day <= row["last_day"]:
            days.add(day)
            day += timedelta(days=1)
    return days


async def train_and_store(*, connection: asyncpg.Connection, resident_id: str, as_of: date,
                          rules: DetectorRules) -> tuple[int, int, str]:
    """Train a new version for `as_of` and store it with its window: (model_id, version, status)."""
    first = as_of - timedelta(days=rules.training_days + rules.guard_days)
    days = await load_features(connection=connection, resident_id=resident_id, first=first, last=as_of)
    excluded = await _under_review(connection=connection, resident_id=resident_id)
    model = train_on(resident_id=resident_id, days=days, as_of=as_of, excluded=excluded, rules=rules)
    status = "ready" if isinstance(model, ChangeModel) else "not_enough_data"
    days_used = model.days_used if isinstance(model, ChangeModel) else model.days_known
    row = await connection.fetchrow(INSERT_MODEL, resident_id, DETECTOR, model.train_first, model.train_last,
                                    days_used, status, json.dumps(model.as_params()))
    assert row is not None
    return row["model_id"], row["version"], status


async def score_and_suggest(*, connection: asyncpg.Connection, resident_ids: Sequence[str], day: date,
                            rules: DetectorRules) -> dict[str, Any]:
    """Score each resident's window ending `day` with their latest model, in a few queries for all of them;
    a change that persists opens a review suggestion (or extends the open one)."""
    models = {r["resident_id"]: r for r in await connection.fetch(LATEST_MODELS, list(resident_ids), DETECTOR)}
    span_first = day - timedelta(days=rules.window_days + rules.persist_days)
    features = await load_features_of_many(connection=connection, resident_ids=list(models), first=span_first,
                                           last=day)
    open_ids = {r["resident_id"]: r["suggestion_id"]
                for r in await connection.fetch(OPEN_SUGGESTIONS, list(models))}
    outcome = {"scored": 0, "not_enough_data": len(resident_ids) - len(models), "unknown": 0, "flagged": 0,
               "raised": 0, "extended": 0}
    raise_rows, extend_rows = [], []
    for resident_id, row in models.items():
        if row["status"] != "ready":
            outcome["not_enough_data"] += 1
            continue
        model = ChangeModel.from_params(resident_id=resident_id, train_first=row["train_first"],
                                        train_last=row["train_last"], days_used=row["days_used"],
                                        params=json.loads(row["params"]))
        days = features.get(resident_id, [])
        beyond = [score_day(model=model, days=days, day=day - timedelta(days=back), rules=rules)
                  for back in range(rules.persist_days - 1, -1, -1)]
        latest = beyond[-1]
        if latest.score is None:
            outcome["unknown"] += 1
            continue
        outcome["scored"] += 1
        if not persistent(beyond=[s.flagged for s in beyond], rules=rules):
            continue
        outcome["flagged"] += 1
        changes = json.dumps([{**asdict(c), "since": c.since.isoformat()} for c in latest.changes])
        words = explain(latest.changes)
        if resident_id in open_ids:
            extend_rows.append((open_ids[resident_id], day, latest.score, words, changes))
        else:
            since = min([c.since for c in latest.changes], default=day)
            raise_rows.append((resident_id, row["model_id"], DETECTOR, day, since, latest.score, latest.threshold,
                               words, changes))
    async with connection.transaction():
        if raise_rows:
            await connection.executemany(RAISE_SUGGESTION, raise_rows)
        if extend_rows:
            await connection.executemany(EXTEND_SUGGESTION, extend_rows)
    outcome["raised"], outcome["extended"] = len(raise_rows), len(extend_rows)
    return outcome


async def list_suggestions(*, connection: asyncpg.Connection, org_id: str | None = None,
                           resident_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Suggestions, open ones first, with the model version and training window that raised them."""
    rows = await connection.fetch(LIST_SUGGESTIONS, org_id, resident_id, status)
    return [{**dict(r), "changes": json.loads(r["changes"])} for r in rows]


async def review_suggestion(*, connection: asyncpg.Connection, suggestion_id: int, decision: str, reviewer: str,
                            note: str | None) -> None:
    """A reviewer confirms or dismisses an open suggestion; it is then shown with that answer."""
    if decision not in ("confirmed", "dismissed"):
        raise ValueError("decision must be 'confirmed' or 'dismissed'")
    if await connection.fetchval(REVIEW, suggestion_id, decision, reviewer, note) is None:
        raise SuggestionNotOpenError(suggestion_id)


def not_enough(model: ChangeModel | NotEnoughData) -> bool:
    """Whether a training said it had too little history."""
    return isinstance(model, NotEnoughData)


LATEST_NIGHT = "SELECT max(night_of) FROM nightly_summary WHERE resident_id = $1"
LATEST_TRAINING = "SELECT max(train_last) FROM change_models WHERE resident_id = $1 AND detector = $2"


async def morning_changes(*, connection: asyncpg.Connection, resident_ids: Sequence[str],
                          config: EvidenceConfig) -> dict[str, Any]:
    """After the morning's nights are read: the day's features, a weekly retrain, and the scoring."""
    from models.feature_store import compute_features, store_features  # noqa: PLC0415
    from models.nightly import load_resident  # noqa: PLC0415

    rules = config.detector
    scored_by_day: dict[date, list[str]] = {}
    for resident_id in resident_ids:
        resident = await load_resident(connection=connection, resident_id=resident_id)
        day = await connection.fetchval(LATEST_NIGHT, resident_id)
        if resident is None or day is None:
            continue
        await store_features(connection=connection, features=await compute_features(
            connection=connection, resident=resident, first=day, last=day, config=config))
        trained_to = await connection.fetchval(LATEST_TRAINING, resident_id, DETECTOR)
        if trained_to is None or (day - rules.guard_days - trained_to).days >= rules.retrain_every_days:
            await train_and_store(connection=connection, resident_id=resident_id, as_of=day, rules=rules)
        scored_by_day.setdefault(day, []).append(resident_id)
    outcome: dict[str, Any] = {}
    for day, ids in scored_by_day.items():
        outcome[day.isoformat()] = await score_and_suggest(connection=connection, resident_ids=ids, day=day,
                                                           rules=rules)
    return outcome
