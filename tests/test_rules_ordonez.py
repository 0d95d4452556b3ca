"""Must-show 4: Ordonez A through MQTT and a live ingest worker, then the rules: no alert storm."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import orjson
import pytest

from bench.rules_ordonez import DATA, ordonez_plan, rules_over_ordonez
from simulators.cli import publish
from simulators.clock import TimeMode
from simulators.replay import replay_messages, replay_site
from simulators.z2m import Z2mOptions
from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from telecare.site import SiteFile, provision_site
from tests.conftest import artifacts_dir
from tests.support import wait_until


@pytest.fixture
def settings(database_url: str, broker: LocalBroker, unique: str) -> Iterator[Settings]:
    """Test settings that trust event times up to 30 days old: the recording spans two weeks."""
    yield Settings(database_url=database_url, mqtt_url=broker.url, mqtt_client_id=f"test-ingest-{unique}",
                   dev_mode=True, ingest_batch_linger_ms=5, max_event_age_s=30 * 86400)


@pytest.mark.skipif(not DATA.exists(), reason="Ordonez A data set not present")
async def test_ordonez_a_gives_a_per_night_alert_list_and_no_storm(
    db: asyncpg.Connection, running_ingest: Settings, unique: str, tmp_path: Path
) -> None:
    mapping, plan = ordonez_plan(suffix=unique)
    await provision_site(connection=db, site=SiteFile.model_validate(replay_site(mapping=mapping, protocol="z2m")))
    stats = await publish(settings=running_ingest, messages=replay_messages(
        plan=plan, mapping=mapping, protocol="z2m", options=Z2mOptions(last_seen="iso")),
        mode=TimeMode(None), origin=plan.first, until=None, client_id=f"replay-{unique}")
    assert stats.acked == stats.messages
    hub = mapping.home.hub_id

    async def all_bed_presses_stored() -> bool:
        count = await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1 AND kind = 'bed_vacated'", hub)
        return int(count) >= 15

    await wait_until(all_bed_presses_stored, timeout_s=60, what="the recording stored")
    report = await rules_over_ordonez(connection=db, mapping=mapping, plan=plan, run=f"ordonez-{unique}")
    (artifacts_dir() / "ordonez_a_alerts.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    # No storm: at most one alert episode in any night, never a pile of repeats.
    assert report["nights"] >= 14 and report["max_alerts_in_a_night"] <= 1 and report["max_repeat_count"] <= 5
    # And each alert says something true, and every night that was late is called: "not in bed by" is
    # 02:00 here (night from 23:00) plus an hour on the first nights, before anything is learnt (this
    # person is in bed at 02:15 some nights), or later once the rules have learnt their own bedtimes.
    deadlines = {row["subject"]: row["due_at"] for row in await db.fetch(
        "SELECT subject, due_at FROM rule_timers WHERE run = $1 AND rule = 'not_in_bed'", report["run"])}
    assert min(deadlines.values()).astimezone(ZoneInfo(mapping.home.timezone)).time() == time(3, 0)
    late = set()
    for record in plan.truth:
        if record["record"] == "night" and record["night_of"] in deadlines:
            onset = datetime.fromisoformat(record["sleep_onset"])
            if onset > deadlines[record["night_of"]]:
                late.add(record["night_of"])
    alerted = {night for night, items in report["per_night"].items() if items}
    assert all(item["condition"] == "not_in_bed" for items in report["per_night"].values() for item in items)
    assert alerted == late and report["alerts"] == len(late)
