"""Replays of recorded homes: Ordonez A end to end through MQTT into the events hypertable, and CASAS logs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from simulators.cli import publish
from simulators.clock import TimeMode
from simulators.mapping import load_mapping
from simulators.replay import plan_replay, replay_messages, replay_site
from simulators.truth import encode, load_truth
from simulators.z2m import Z2mOptions
from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from telecare.site import SiteFile, provision_site
from tests.support import wait_until

DATA = Path("/work/shared/data/ordonez_a")
MAPPING = Path(__file__).resolve().parent.parent / "simulators" / "mappings" / "ordonez_a.yaml"
needs_data = pytest.mark.skipif(not DATA.exists(), reason="Ordonez A data set not present")


@pytest.fixture
def settings(database_url: str, broker: LocalBroker, unique: str) -> Iterator[Settings]:
    """Test settings that trust event times up to 30 days old: the replay spans two weeks."""
    yield Settings(database_url=database_url, mqtt_url=broker.url, mqtt_client_id=f"test-ingest-{unique}",
                   dev_mode=True, ingest_batch_linger_ms=5, max_event_age_s=30 * 86400)


@needs_data
async def test_ordonez_a_replays_into_the_hypertable_and_agrees_with_its_truth(
    db: asyncpg.Connection, running_ingest: Settings, unique: str, tmp_path: Path
) -> None:
    mapping = load_mapping(path=MAPPING)
    home = mapping.home.model_copy(update={"hub_id": f"ord-{unique}", "resident_id": f"ord-r-{unique}",
                                           "organisation_id": f"ord-org-{unique}"})
    mapping = mapping.model_copy(update={"home": home})
    plan, summary = plan_replay(fmt="ordonez", sensors=DATA / "OrdonezA_Sensors.txt",
                                labels=DATA / "OrdonezA_ADLs.txt", mapping=mapping, shift=None, now=time.time(),
                                source="ordonez_a")
    # The three hand-typed rows with an end before their start are reported, not guessed at.
    assert [item["line"] for item in summary["labels_skipped"]] == [72, 81, 83]
    truth_path = tmp_path / "truth.jsonl"
    truth_path.write_bytes(b"".join(encode(record) for record in plan.truth))
    truth = load_truth(path=truth_path)
    assert len(truth.nights) == 14 and truth.header["labels_skipped"]
    await provision_site(connection=db, site=SiteFile.model_validate(replay_site(mapping=mapping, protocol="z2m")))

    stats = await publish(settings=running_ingest, messages=replay_messages(
        plan=plan, mapping=mapping, protocol="z2m", options=Z2mOptions(last_seen="iso")),
        mode=TimeMode(None), origin=plan.first, until=None, client_id=f"replay-{unique}")
    assert stats.acked == stats.messages > 1000

    hub = home.hub_id

    async def door_and_bed_stored() -> bool:
        count = await db.fetchval(
            "SELECT count(*) FROM events WHERE hub_id = $1 AND (kind = 'bed_vacated' OR"
            " (kind = 'door_closed' AND device_id = $2))", hub, f"{hub}:front door")
        return int(count) >= 15 + 31

    await wait_until(door_and_bed_stored, timeout_s=60, what="every bed press and door closing stored")
    rows = await db.fetch(
        "SELECT kind, time, time_from_arrival, resident_id, device_id FROM events WHERE hub_id = $1 ORDER BY time",
        hub)
    kinds = [row["kind"] for row in rows]
    # Ordonez A has 15 bed-pressure and 31 main-door intervals: one occupied/vacated and open/closed each.
    assert kinds.count("bed_occupied") == 15 and kinds.count("bed_vacated") == 15
    front = [row for row in rows if row["kind"] == "door_open" and row["device_id"] == f"{hub}:front door"]
    assert len(front) == 31
    assert not any(row["time_from_arrival"] for row in rows) and {row["resident_id"] for row in rows} == {
        home.resident_id}
    bed_times = [row["time"] for row in rows if row["kind"] == "bed_occupied"]
    for night in truth.nights:
        # The labels were typed by a person, the sensor log by the sensor: they agree within minutes.
        nearest = min(abs((moment - night.sleep_onset).total_seconds()) for moment in bed_times)
        assert nearest < 15 * 60, night.night_of
    dead = await db.fetchval("SELECT count(*) FROM dead_letters WHERE topic LIKE $1", f"z2m/{hub}/%")
    assert dead == 0


@needs_data
def test_ordonez_shift_keeps_weekdays_and_ends_before_now() -> None:
    mapping = load_mapping(path=MAPPING)
    now = time.time()
    plan, summary = plan_replay(fmt="ordonez", sensors=DATA / "OrdonezA_Sensors.txt", labels=None,
                                mapping=mapping, shift=None, now=now, source="ordonez_a")
    assert summary["shift_days"] % 7 == 0
    assert now - 7 * 86400 <= plan.last <= now


def test_casas_log_with_begin_end_labels_becomes_devices_and_truth(tmp_path: Path) -> None:
    log = tmp_path / "casas.txt"
    lines = [
        "2010-11-04 00:03:50.209589 M003 ON Sleeping begin",
        "2010-11-04 00:03:57.399391 M003 OFF",
        "2010-11-04 03:10:00.000000 D001 D001 OPEN",  # the second sensor column some CASAS homes have
        "2010-11-04 03:10:09.000000 D001 CLOSE",
        "2010-11-04 03:11:00.000000 M017 ON Bed_to_Toilet begin",
        "2010-11-04 03:14:00.000000 M017 OFF Bed_to_Toilet end",
        "2010-11-04 03:15:00.000000 T001 19.5",
        "garbage line",
        "2010-11-04 07:30:00.000000 M003 ON Sleeping end",
    ]
    log.write_text("\n".join(lines) + "\n")
    mapping_file = tmp_path / "casas.yaml"
    mapping_file.write_text(
        "schema: telecare.mapping/1\nformat: casas\n"
        "home: {hub_id: casas-1, resident_id: casas-r1, timezone: America/Los_Angeles}\n"
        "sensors:\n"
        "  M003: {friendly_name: bedroom/motion, type: pir, location: bedroom, behaviour: motion}\n"
        "  M017: {friendly_name: bathroom/motion, type: pir, location: bathroom, behaviour: motion}\n"
        "  D001: {friendly_name: front door, type: door, location: front_door, behaviour: contact}\n"
        "  T001: {friendly_name: hall/temperature, type: temperature, location: hallway, behaviour: temperature}\n"
    )
    mapping = load_mapping(path=mapping_file)
    plan, summary = plan_replay(fmt="casas", sensors=log, labels=None, mapping=mapping, shift=timedelta(0),
                                now=time.time(), source="casas")
    assert summary["sensor_lines_skipped"] == 1
    nights = [record for record in plan.truth if record["record"] == "night"]
    assert len(nights) == 1
    assert nights[0]["sleep_onset"].startswith("2010-11-04T00:03:50-07:00")
    assert nights[0]["bathroom_visits"] == 1 and nights[0]["bed_exits"][0]["to"] == "bathroom"
    messages = list(replay_messages(plan=plan, mapping=mapping, protocol="z2m", options=Z2mOptions()))
    door = [m.payload for m in messages if m.topic == "z2m/casas-1/front door"]
    assert b'"contact":false' in door[1] and b'"contact":true' in door[2]
    assert any(b'"temperature":19.5' in m.payload for m in messages)
    assert datetime.fromtimestamp(plan.first, UTC).hour == 7  # 00:03 in Los Angeles is 07:03 UTC
