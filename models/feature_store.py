"""Daily features in the database: computed from stored nights and events, stored, and read back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, time, timedelta

import asyncpg

from models import queries as q
from models.config import EvidenceConfig
from models.features import RHYTHM_DAYS, DayFeatures, features_for_days
from models.nightly import NIGHT_KINDS, Resident, ensure_nights
from models.nights import local_instant, night_window, nights_between
from models.sleep import Interval, NightEvent

UPSERT_FEATURES = """
INSERT INTO daily_features (resident_id, day, day_known, night_known, features, hourly, computed_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, now())
ON CONFLICT (resident_id, day) DO UPDATE SET day_known = EXCLUDED.day_known, night_known = EXCLUDED.night_known,
    features = EXCLUDED.features, hourly = EXCLUDED.hourly, computed_at = now()
"""

FEATURES_IN_RANGE = """
SELECT resident_id, day, day_known, night_known, features, hourly FROM daily_features
WHERE resident_id = $1 AND day >= $2 AND day <= $3 ORDER BY day
"""

# The latest days of many residents at once (the scoring run reads every resident in one query).
FEATURES_OF_MANY = """
SELECT resident_id, day, day_known, night_known, features, hourly FROM daily_features
WHERE resident_id = ANY($1::text[]) AND day >= $2 AND day <= $3 ORDER BY resident_id, day
"""


def _daytime(*, resident: Resident, day: date) -> Interval:
    before = night_window(night_of=day - timedelta(days=1), start=resident.night_start, end=resident.night_end,
                          tz=resident.tz)
    night = night_window(night_of=day, start=resident.night_start, end=resident.night_end, tz=resident.tz)
    return Interval(before.end, night.start)


def row_to_features(row: asyncpg.Record) -> DayFeatures:
    """A DayFeatures from a stored row."""
    return DayFeatures(resident_id=row["resident_id"], day=row["day"], values=json.loads(row["features"]),
                       hourly=tuple(row["hourly"]), day_known=row["day_known"], night_known=row["night_known"])


async def compute_features(
    *, connection: asyncpg.Connection, resident: Resident, first: date, last: date, config: EvidenceConfig,
) -> list[DayFeatures]:
    """Features of days `first`..`last` (nights computed and stored first where missing), in a few range queries."""
    days = nights_between(first=first, last=last)
    if not days:
        return []
    nights = {n.night_of: n for n in await ensure_nights(
        connection=connection, resident=resident, first=first - timedelta(days=1), last=last, config=config)}
    start = local_instant(day=first - timedelta(days=RHYTHM_DAYS), at=time(0), tz=resident.tz)
    end = night_window(night_of=last, start=resident.night_start, end=resident.night_end, tz=resident.tz).end
    rows = await connection.fetch(q.NIGHT_EVENTS, resident.resident_id, start, end, NIGHT_KINDS)
    events = [NightEvent(r["time"], r["kind"], r["location"], r["device_type"], r["device_id"], r["is_restore"])
              for r in rows]
    # The rhythm features look back a week: the stored days before `first` that were known.
    earlier = await connection.fetch(FEATURES_IN_RANGE, resident.resident_id, first - timedelta(days=RHYTHM_DAYS),
                                     first - timedelta(days=1))
    earlier_hourly = [tuple(r["hourly"]) for r in earlier if r["day_known"]]
    return features_for_days(resident_id=resident.resident_id, days=days, nights=nights,
                             daytimes={d: _daytime(resident=resident, day=d) for d in days}, events=events,
                             tz=resident.tz, rules=config.night, earlier_hourly=earlier_hourly)


async def store_features(*, connection: asyncpg.Connection, features: Sequence[DayFeatures]) -> int:
    """Upsert days into `daily_features`."""
    await connection.executemany(UPSERT_FEATURES, [
        (f.resident_id, f.day, f.day_known, f.night_known, json.dumps(f.values), list(f.hourly)) for f in features])
    return len(features)


async def load_features(*, connection: asyncpg.Connection, resident_id: str, first: date, last: date,
                        ) -> list[DayFeatures]:
    """Stored days of one resident."""
    return [row_to_features(r) for r in await connection.fetch(FEATURES_IN_RANGE, resident_id, first, last)]


async def load_features_of_many(*, connection: asyncpg.Connection, resident_ids: Sequence[str], first: date,
                                last: date) -> dict[str, list[DayFeatures]]:
    """Stored days of many residents, by resident."""
    out: dict[str, list[DayFeatures]] = {rid: [] for rid in resident_ids}
    for row in await connection.fetch(FEATURES_OF_MANY, list(resident_ids), first, last):
        out[row["resident_id"]].append(row_to_features(row))
    return out
