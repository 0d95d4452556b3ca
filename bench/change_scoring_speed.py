"""Must-show 4 of issue 12: scoring 1,000 residents' latest day (JSON).

    PYTHONPATH=. .venv/bin/python -m bench.change_scoring_speed --residents 1000

A fresh database gets 1,000 residents (the simulated scheme's site file) and 63 days of stored daily
features each (seeded random values around per-resident habits: the timing does not depend on what
the values mean). Every resident's model is trained and stored (`telecare models train`), then the
morning scoring of the latest day (`telecare models score`: one query for the models, one for the
features, the scoring, the suggestions written) is timed three times. For scale on a shared machine,
the same run times a bare read of the same feature rows as a baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from datetime import date, timedelta
from typing import Any

import asyncpg

from bench.evidence_load import provision
from bench.scratch import scratch_database
from models.change_store import score_and_suggest, train_and_store
from models.config import DetectorRules
from models.feature_store import FEATURES_OF_MANY
from models.features import FEATURE_NAMES

DAYS = 63
LAST = date(2024, 3, 10)


def _features(rng: random.Random) -> dict[str, float]:
    return {name: max(0.0, rng.gauss(30.0, 8.0)) for name in FEATURE_NAMES}


async def run(*, url: str, residents: int) -> dict[str, Any]:
    """Load, train, time the scoring."""
    from simulators.scenario import ScenarioConfig, scenario_site  # noqa: PLC0415

    connection = await asyncpg.connect(url)
    try:
        config = ScenarioConfig(seed=1, residents=residents, days=1, start=LAST, prefix="spd")
        await provision(connection=connection, site=scenario_site(config=config))
        ids = [config.resident_id(i) for i in range(residents)]
        rng = random.Random(12)
        rows = [(rid, LAST - timedelta(days=DAYS - 1 - d), True, True, json.dumps(_features(rng)), [0] * 24)
                for rid in ids for d in range(DAYS)]
        await connection.copy_records_to_table(
            "daily_features", records=[(*r[:4], r[4], r[5]) for r in rows],
            columns=["resident_id", "day", "day_known", "night_known", "features", "hourly"])
        rules = DetectorRules()
        started = time.perf_counter()
        for rid in ids:
            await train_and_store(connection=connection, resident_id=rid, as_of=LAST, rules=rules)
        train_s = time.perf_counter() - started
        scoring, bare = [], []
        outcome: dict[str, Any] = {}
        for _ in range(3):
            started = time.perf_counter()
            await connection.fetch(FEATURES_OF_MANY, ids, LAST - timedelta(days=10), LAST)
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            outcome = await score_and_suggest(connection=connection, resident_ids=ids, day=LAST, rules=rules)
            scoring.append(time.perf_counter() - started)
    finally:
        await connection.close()
    return {"residents": residents, "feature_days_per_resident": DAYS,
            "train_all_s": round(train_s, 2),
            "score_latest_day_s": [round(s, 3) for s in scoring],
            "score_latest_day_s_median": round(statistics.median(scoring), 3),
            "target_s": 10.0,
            "bare_feature_read_s_median": round(statistics.median(bare), 3),
            "score_vs_bare_read_ratio": round(statistics.median(scoring) / statistics.median(bare), 1),
            "last_outcome": outcome,
            "machine": "2 cores shared with other engineers' tests and benches during the run"}


async def main(argv: list[str] | None = None) -> int:
    """Run and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=1000)
    args = parser.parse_args(argv)
    async with scratch_database(prefix="change_speed") as url:
        result = await run(url=url, residents=args.residents)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
