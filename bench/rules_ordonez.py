"""Must-show 4: the Ordonez A home (14 recorded days) replayed, then the rules over it, night by night.

The simulators' replay of /work/shared/data/ordonez_a goes through the real ingest processing and
store in-process (bench/pipeline_feed.py) into a fresh database; `replay_history` runs the rules over
the period; the output is the per-night alert list and the storm figures (alerts per night, repeats).
tests/test_rules_ordonez.py does the same through MQTT and a live ingest worker.

    python -m bench.rules_ordonez
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from bench.pipeline_feed import feed_messages
from rules.replay import replay_history
from simulators.mapping import Mapping, load_mapping
from simulators.replay import ReplayPlan, plan_replay, replay_messages, replay_site
from simulators.z2m import Z2mOptions
from telecare.db.migrate import migrate
from telecare.settings import Settings
from telecare.site import SiteFile, provision_site

DATA = Path("/work/shared/data/ordonez_a")
MAPPING = Path(__file__).resolve().parent.parent / "simulators" / "mappings" / "ordonez_a.yaml"
ADMIN_URL = os.environ.get("TELECARE_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def ordonez_plan(*, suffix: str) -> tuple[Mapping, ReplayPlan]:
    """The Ordonez A mapping (ids made unique with `suffix`) and its replay plan, ending before now."""
    mapping = load_mapping(path=MAPPING)
    home = mapping.home.model_copy(update={"hub_id": f"ord-{suffix}", "resident_id": f"ord-r-{suffix}",
                                           "organisation_id": f"ord-org-{suffix}"})
    mapping = mapping.model_copy(update={"home": home})
    plan, _summary = plan_replay(fmt="ordonez", sensors=DATA / "OrdonezA_Sensors.txt",
                                 labels=DATA / "OrdonezA_ADLs.txt", mapping=mapping, shift=None, now=time.time(),
                                 source="ordonez_a")
    return mapping, plan


async def per_night_alerts(*, connection: asyncpg.Connection, run: str, resident_id: str, timezone: str,
                           since: datetime, until: datetime) -> dict[str, Any]:
    """Every night of the period (noon to noon, local) with the alert episodes raised in it."""
    rows = await connection.fetch(
        "SELECT a.alert_id, a.condition, h.action, h.event_time, a.repeat_count FROM alert_history h"
        " JOIN alerts a USING (alert_id) WHERE a.run = $1 AND a.resident_id = $2"
        " AND (h.action = 'raised' OR (h.action = 'repeated' AND h.detail->>'after_clear' = 'true'))"
        " ORDER BY h.event_time", run, resident_id)
    zone = ZoneInfo(timezone)
    nights: dict[str, list[dict[str, Any]]] = {}
    day = (since.astimezone(zone) - timedelta(hours=12)).date()
    while day <= (until.astimezone(zone) - timedelta(hours=12)).date():
        nights[day.isoformat()] = []
        day += timedelta(days=1)
    for row in rows:
        local = row["event_time"].astimezone(zone)
        night = (local - timedelta(hours=12)).date().isoformat()
        nights.setdefault(night, []).append({"alert_id": row["alert_id"], "condition": row["condition"],
                                             "at": local.isoformat(timespec="seconds"), "episode": row["action"]})
    repeats = await connection.fetchval("SELECT COALESCE(max(repeat_count), 0) FROM alerts WHERE run = $1"
                                        " AND resident_id = $2", run, resident_id)
    counts = [len(items) for items in nights.values()]
    return {"nights": len(nights), "alerts": sum(counts), "nights_with_alerts": sum(1 for c in counts if c),
            "max_alerts_in_a_night": max(counts, default=0), "max_repeat_count": repeats, "per_night": nights}


async def replay_ordonez(*, connection: asyncpg.Connection, settings: Settings, suffix: str,
                         feed: bool = True) -> dict[str, Any]:
    """Provision, (feed,) replay the rules and list the alerts night by night."""
    mapping, plan = ordonez_plan(suffix=suffix)
    await provision_site(connection=connection, site=SiteFile.model_validate(replay_site(mapping=mapping,
                                                                                       protocol="z2m")))
    if feed:
        await feed_messages(connection=connection, settings=settings, messages=replay_messages(
            plan=plan, mapping=mapping, protocol="z2m", options=Z2mOptions(last_seen="iso")))
    return await rules_over_ordonez(connection=connection, mapping=mapping, plan=plan, run=f"ordonez-{suffix}")


async def rules_over_ordonez(*, connection: asyncpg.Connection, mapping: Mapping, plan: ReplayPlan,
                             run: str) -> dict[str, Any]:
    """Run the rules over the stored recording and list the alerts night by night."""
    resident = mapping.home.resident_id
    since = datetime.fromtimestamp(plan.first - 60, UTC)
    until = datetime.fromtimestamp(plan.last + 120, UTC)
    summary = await replay_history(connection=connection, run=run, since=since, until=until, resident_ids=[resident])
    report = await per_night_alerts(connection=connection, run=run, resident_id=resident,
                                    timezone=mapping.home.timezone, since=since, until=until)
    return {"run": run, "events": summary.events, **report}


async def _main() -> dict[str, Any]:
    name = f"telecare_ordonez_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        await migrate(database_url=url)
        connection = await asyncpg.connect(url)
        try:
            settings = Settings(database_url=url, dev_mode=True, max_event_age_s=60 * 86400)
            return await replay_ordonez(connection=connection, settings=settings, suffix="bench")
        finally:
            await connection.close()
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    """Entry point: run and print JSON."""
    argparse.ArgumentParser(description=__doc__).parse_args()
    sys.stdout.write(json.dumps(asyncio.run(_main()), indent=2) + "\n")


if __name__ == "__main__":
    main()
