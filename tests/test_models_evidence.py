"""Night-time evidence: nightly summaries against simulator truth, coverage, triggers, pack, API."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from api.auth import Role, issue_token
from bench.evidence_load import Wire, ingest_in_process, provision
from bench.evidence_truth import compare, truth_nights
from models.config import EvidenceConfig
from models.nightly import compute_nights, ensure_nights, load_resident
from models.nights import night_window
from models.pack import build_pack
from models.review import add_trigger
from models.scheduler import SchedulerOptions, morning_pass
from models.service import run_nightly
from simulators.scenario import ScenarioConfig, scenario_messages, scenario_site
from simulators.truth import ResidentTruth, TruthWriter, load_truth_dir
from telecare.settings import Settings
from tests.api_helpers import ApiServer, api_server, build_world  # noqa: F401 - api_server is a fixture

DAYS = 12


@dataclass(frozen=True)
class Scheme:
    """A small simulated scheme loaded into the test database."""

    config: ScenarioConfig
    truths: dict[str, ResidentTruth]
    first: date
    last: date


@pytest.fixture(scope="module")
async def scheme(database_url: str) -> AsyncIterator[Scheme]:
    """Four flats, twelve days, through the ingest code into the events hypertable."""
    prefix = f"ev{uuid.uuid4().hex[:6]}"
    config = ScenarioConfig(seed=11, residents=4, days=DAYS, start=date(2024, 3, 25), prefix=prefix,
                            org_id=f"{prefix}-org", incidents_per_month=3.0, faults_per_month=0.0)
    connection = await asyncpg.connect(database_url)
    await provision(connection=connection, site=scenario_site(config=config))
    settings = Settings(database_url=database_url, dev_mode=True, max_event_age_s=10**9)
    with tempfile.TemporaryDirectory() as folder:
        writer = TruthWriter(directory=Path(folder))
        loaded = await ingest_in_process(connection=connection, settings=settings, messages=(
            Wire(m.time, m.topic, m.payload) for m in scenario_messages(config=config, truth=writer)))
        truths = load_truth_dir(directory=Path(folder))
    assert loaded.events > 1000 and loaded.dead_letters == 0
    await connection.close()
    first = config.start
    yield Scheme(config, truths, first, first + timedelta(days=DAYS - 2))


def test_night_windows_follow_the_clocks() -> None:
    """The UK spring-forward night is an hour short and the autumn one an hour long; both in local time."""
    london = ZoneInfo("Europe/London")
    spring = night_window(night_of=date(2024, 3, 30), start=time(22), end=time(7), tz=london)
    autumn = night_window(night_of=date(2024, 10, 26), start=time(22), end=time(7), tz=london)
    ordinary = night_window(night_of=date(2024, 6, 1), start=time(22), end=time(7), tz=london)
    assert (spring.hours, autumn.hours, ordinary.hours) == (8.0, 10.0, 9.0)
    assert ordinary.start.astimezone(london).hour == 22 and ordinary.end.astimezone(london).hour == 7


async def test_nights_match_simulator_truth(db: asyncpg.Connection, scheme: Scheme) -> None:
    """Bed exits, sleep onset and wake agree with what the simulated residents really did."""
    truth, summaries = [], {}
    for resident_truth in scheme.truths.values():
        resident = await load_resident(connection=db, resident_id=resident_truth.resident_id)
        assert resident is not None
        nights = await compute_nights(connection=db, resident=resident, first=scheme.first, last=scheme.last,
                                      config=EvidenceConfig())
        summaries.update({(resident.resident_id, n.night_of.isoformat()): n for n in nights})
        truth += [t for t in truth_nights(truth=resident_truth)
                  if scheme.first.isoformat() <= t.night_of <= scheme.last.isoformat()]
    figures = compare(truth=truth, summaries=summaries)
    assert figures["judged_nights"] >= 0.9 * len(truth)
    assert figures["bed_exits_exact_pct"] >= 95
    assert figures["sleep_onset_within_pct"] >= 90
    assert figures["wake_within_pct"] >= 90
    assert figures["door_exits_exact_pct"] >= 90


async def test_a_night_without_working_sensors_is_unknown_not_quiet(db: asyncpg.Connection, scheme: Scheme) -> None:
    """A hub that was offline for most of a night makes that night 'unknown', and it is not counted as monitored."""
    resident_id = next(iter(scheme.truths))
    resident = await load_resident(connection=db, resident_id=resident_id)
    assert resident is not None
    target = scheme.first + timedelta(days=3)
    window = night_window(night_of=target, start=resident.night_start, end=resident.night_end, tz=resident.tz)
    hub_id = await db.fetchval("SELECT hub_id FROM hubs WHERE resident_id = $1", resident_id)
    for moment, restore in ((window.start + timedelta(minutes=30), False), (window.end - timedelta(minutes=20), True)):
        await db.execute(
            "INSERT INTO events (time, event_key, received_at, org_id, resident_id, hub_id, device_id, device_type,"
            " location, kind, is_restore, source) VALUES ($1, $2, $1, $3, $4, $5, $5, 'hub', 'other',"
            " 'hub_offline', $6, 'z2m')", moment, uuid.uuid4(), resident.org_id, resident_id, hub_id, restore)
    nights = await compute_nights(connection=db, resident=resident, first=target - timedelta(days=1),
                                  last=target + timedelta(days=1), config=EvidenceConfig())
    by_night = {n.night_of: n for n in nights}
    assert by_night[target].status == "unknown" and by_night[target].bed_exits is None
    assert by_night[target].coverage < 0.2
    assert by_night[target - timedelta(days=1)].status == "ok"
    stored = await ensure_nights(connection=db, resident=resident, first=target, last=target, config=EvidenceConfig())
    assert stored[0].status == "unknown"


async def test_a_silence_alert_left_open_ends_when_the_hub_is_heard_again(db: asyncpg.Connection,
                                                                         scheme: Scheme) -> None:
    """A hub_offline alert nobody cleared (an operator has not closed it yet) does not blank out the nights after
    the hub spoke again; the gap itself still counts against coverage."""
    resident_id = next(iter(scheme.truths))
    resident = await load_resident(connection=db, resident_id=resident_id)
    assert resident is not None
    target = scheme.first + timedelta(days=6)
    window = night_window(night_of=target, start=resident.night_start, end=resident.night_end, tz=resident.tz)
    hub_id = await db.fetchval("SELECT hub_id FROM hubs WHERE resident_id = $1", resident_id)
    alert_id = await db.fetchval(
        "INSERT INTO alerts (run, org_id, resident_id, subject_key, hub_id, condition, priority, base_priority,"
        " raised_at, detected_at, last_event_at) VALUES ('live', $1, $2, $2, $3, 'hub_offline', 3, 3, $4, $4, $4)"
        " RETURNING alert_id", resident.org_id, resident_id, hub_id, window.start + timedelta(hours=3))
    try:
        nights = await compute_nights(connection=db, resident=resident, first=target, last=target + timedelta(days=2),
                                      config=EvidenceConfig())
    finally:
        await db.execute("DELETE FROM alert_history WHERE alert_id = $1", alert_id)
        await db.execute("DELETE FROM alerts WHERE alert_id = $1", alert_id)
    # The night of the alert is covered until it was raised, and not from then until the hub was heard.
    assert 3 / window.hours - 0.01 <= nights[0].coverage < 1
    assert [n.status for n in nights[1:]] == ["ok", "ok"] and all(n.coverage > 0.99 for n in nights[1:])


async def test_an_alert_counts_in_the_night_its_situation_began(db: asyncpg.Connection, scheme: Scheme,
                                                                  unique: str) -> None:
    """Up at 06:35 and not back: the out-of-bed alert falls due after the window closes but is that night's."""
    resident_id = list(scheme.truths)[2]
    resident = await load_resident(connection=db, resident_id=resident_id)
    assert resident is not None
    target = scheme.first + timedelta(days=4)
    window = night_window(night_of=target, start=resident.night_start, end=resident.night_end, tz=resident.tz)
    run = f"onset-{unique}"
    raised = window.end + timedelta(minutes=20)
    for condition, detail in (("out_of_bed", {"armed_at": (window.end - timedelta(minutes=25)).isoformat()}),
                              ("not_up", {"armed_at": (window.start - timedelta(hours=1)).isoformat()})):
        await db.execute(
            "INSERT INTO alerts (run, org_id, resident_id, subject_key, condition, priority, base_priority,"
            " raised_at, detected_at, last_event_at, detail) VALUES ($1, $2, $3, $3, $4, 3, 3, $5, $5, $5, $6)",
            run, resident.org_id, resident_id, condition, raised, json.dumps(detail))
    nights = await compute_nights(connection=db, resident=resident, first=target, last=target + timedelta(days=1),
                                  config=EvidenceConfig(alerts_run=run))
    assert nights[0].alerts_by_type == {"out_of_bed": 1}
    assert nights[1].alerts_by_type == {}


async def test_reactivation_trigger_raises_one_review_alert(db: asyncpg.Connection, scheme: Scheme) -> None:
    """A trigger met by the real nights raises a care_review alert in the queue; one not met raises none."""
    resident_id, truth = list(scheme.truths.items())[1]
    resident = await load_resident(connection=db, resident_id=resident_id)
    assert resident is not None
    last = scheme.last
    window = [t for t in truth_nights(truth=truth)
              if (last - timedelta(days=9)).isoformat() <= t.night_of <= last.isoformat()]
    busy = sum(t.bed_exits >= 1 for t in window)
    assert busy >= 1, "the scenario should have nights with bed exits"
    await add_trigger(connection=db, org_id=resident.org_id, resident_id=resident_id, name="too many",
                      feature="bed_exits", comparison=">=", threshold=1, min_nights=busy + 1, window_nights=10)
    await run_nightly(connection=db, resident_ids=[resident_id], first=last - timedelta(days=9), last=last,
                      config=EvidenceConfig(), raise_alerts=True)
    count = "SELECT count(*) FROM alerts WHERE resident_id = $1 AND condition = 'care_review' AND run = 'live'"
    assert await db.fetchval(count, resident_id) == 0
    await add_trigger(connection=db, org_id=resident.org_id, resident_id=resident_id, name="up at night",
                      feature="bed_exits", comparison=">=", threshold=1, min_nights=busy, window_nights=10)
    for _ in range(2):
        await run_nightly(connection=db, resident_ids=[resident_id], first=last - timedelta(days=9), last=last,
                          config=EvidenceConfig(), raise_alerts=True)
    assert await db.fetchval(count, resident_id) == 1
    detail = await db.fetchval("SELECT detail->>'reason' FROM alerts WHERE resident_id = $1 AND "
                               "condition = 'care_review'", resident_id)
    assert f"{busy} of the last 10" in detail


async def test_pack_compares_periods_and_prices_the_nights(db: asyncpg.Connection, scheme: Scheme) -> None:
    """The pack counts monitored nights, compares with the previous period and shows support costs."""
    resident_id = list(scheme.truths)[2]
    await db.execute("INSERT INTO support_periods (resident_id, starts_on, model) VALUES ($1, $2, 'waking_night'),"
                     " ($1, $3, 'sleep_in')", resident_id, scheme.first, scheme.first + timedelta(days=5))
    first, last = scheme.first + timedelta(days=4), scheme.last
    pack = (await build_pack(connection=db, resident_id=resident_id, first=first, last=last,
                             config=EvidenceConfig())).as_json()
    nights = (last - first).days + 1
    assert pack["current"]["nights"] == nights and len(pack["nights"]) == nights
    # The previous period has the same length; its nights before the first data are unknown, not quiet.
    assert pack["previous"]["nights"] == nights
    assert pack["previous"]["nights_unknown"] >= 2  # two nights with no events at all
    assert pack["previous"]["nights_monitored"] + pack["previous"]["nights_unknown"] == nights
    assert pack["costs"]["nights_by_model"] == {"waking_night": 1, "sleep_in": nights - 1}
    assert pack["costs"]["cost_of_period"] == round(217.2 + 128.4 * (nights - 1), 2)
    assert sum(sum(row) for row in pack["activity"]["days"].values()) > 100


async def test_reports_over_http_are_scoped_and_audited(db: asyncpg.Connection, scheme: Scheme, unique: str,
                                                       api_server: ApiServer) -> None:  # noqa: F811
    """Staff of the scheme get packs, nights and the scheme view; a reviewer records a decision for an
    assigned resident only; outsiders get the same 404 as for nobody; every access lands in the audit log."""
    org_id = scheme.config.org_id
    residents = list(scheme.truths)
    mine, other = residents[3], residents[0]
    provider = await issue_token(connection=db, user_id=f"prov-{unique}", role=Role.PROVIDER, org_ids=[org_id],
                                 resident_ids=[])
    reviewer = await issue_token(connection=db, user_id=f"sw-{unique}", role=Role.REVIEWER, org_ids=[org_id],
                                 resident_ids=[mine])
    outsider = (await build_world(db=db, unique=unique)).tokens["operator_b"]
    period = f"from={scheme.first}&to={scheme.last}"
    nights = (scheme.last - scheme.first).days + 1

    async with httpx.AsyncClient(base_url=api_server.base_url, timeout=30) as http:
        def auth(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        csv = await http.get(f"/api/reports/residents/{mine}/pack?{period}&format=csv", headers=auth(provider))
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert len(csv.text.strip().splitlines()) == nights + 1
        listed = (await http.get(f"/api/reports/residents/{mine}/nights?{period}", headers=auth(provider))).json()
        assert listed[0]["night_of"] == scheme.first.isoformat() and len(listed) == nights
        assert {n["method"] for n in listed} == {"bed_sensor"}
        view = (await http.get(f"/api/reports/organisations/{org_id}/scheme?to={scheme.last}",
                               headers=auth(provider))).json()
        assert sorted(row["resident_id"] for row in view) == sorted(residents)

        decision = {"decision": "reduce", "criteria": "no door exits at night for 10 nights", "reviewer": "SW Patel",
                    "decided_on": scheme.last.isoformat(),
                    "follow_up_on": (scheme.last + timedelta(days=42)).isoformat(),
                    "support_from": "waking_night", "support_to": "sleep_in"}
        made = await http.post(f"/api/reports/residents/{mine}/decisions", json=decision, headers=auth(reviewer))
        assert made.status_code == 201
        pack = (await http.get(f"/api/reports/residents/{mine}/pack?{period}", headers=auth(reviewer))).json()
        assert pack["decisions"][0]["decision"] == "reduce" and pack["decisions"][0]["recorded_by"] == f"sw-{unique}"

        # Outside the caller's scope looks exactly like a resident that does not exist.
        nobody = await http.get(f"/api/reports/residents/nobody-{unique}/pack?{period}", headers=auth(reviewer))
        for token, path in ((reviewer, f"/api/reports/residents/{other}/pack?{period}"),
                            (outsider, f"/api/reports/residents/{mine}/nights?{period}")):
            refused = await http.get(path, headers=auth(token))
            assert (refused.status_code, refused.json()) == (404, nobody.json())
        assert (await http.post(f"/api/reports/residents/{other}/decisions", json=decision,
                                headers=auth(reviewer))).status_code == 404
        assert (await http.get(f"/api/reports/organisations/{org_id}/scheme?to={scheme.last}",
                               headers=auth(reviewer))).status_code == 403
        assert (await http.get(f"/api/reports/residents/{mine}/pack?{period}")).status_code == 401

    audit_rows = await db.fetch("SELECT user_id, action, resident_id, outcome FROM audit_log WHERE user_id = ANY($1)"
                                " AND action LIKE 'reports.%' ORDER BY audit_id",
                                [f"prov-{unique}", f"sw-{unique}"])
    seen = [(r["user_id"].split("-")[0], r["action"], r["resident_id"], r["outcome"]) for r in audit_rows]
    assert ("prov", "reports.pack", mine, "allowed") in seen and ("prov", "reports.nights", mine, "allowed") in seen
    assert ("sw", "reports.decide", mine, "allowed") in seen
    assert sum(1 for who, _, _, outcome in seen if who == "sw" and outcome == "denied") == 4


async def test_flats_without_a_bed_pad_are_read_from_bedroom_and_hallway_pirs(db: asyncpg.Connection,
                                                                              scheme: Scheme) -> None:
    """The same flats read with their bed pads gone: the PIR method is chosen, said, and agrees with the truth."""
    truth, summaries = [], {}
    # Rolled back afterwards: the other tests keep the flats with their pads.
    change = db.transaction()
    await change.start()
    try:
        for resident_truth in list(scheme.truths.values())[:2]:
            resident_id = resident_truth.resident_id
            await db.execute("UPDATE devices SET removed_at = now() WHERE device_type = 'bed_sensor' AND hub_id IN "
                             "(SELECT hub_id FROM hubs WHERE resident_id = $1)", resident_id)
            # The pad's history goes too: a flat that never had one.
            await db.execute("DELETE FROM events WHERE resident_id = $1 AND device_type = 'bed_sensor'", resident_id)
            resident = await load_resident(connection=db, resident_id=resident_id)
            assert resident is not None
            nights = await compute_nights(connection=db, resident=resident, first=scheme.first, last=scheme.last,
                                          config=EvidenceConfig())
            summaries.update({(resident_id, n.night_of.isoformat()): n for n in nights})
            truth += [t for t in truth_nights(truth=resident_truth)
                      if scheme.first.isoformat() <= t.night_of <= scheme.last.isoformat()]
    finally:
        await change.rollback()
    figures = compare(truth=truth, summaries=summaries)
    assert figures["methods"] == {"pir": figures["judged_nights"]}
    assert figures["judged_nights"] >= 0.9 * len(truth)
    assert figures["bed_exits_exact_pct"] >= 85
    assert figures["sleep_onset_within_pct"] >= 90
    assert figures["wake_within_pct"] >= 90
    # Rolled back: the flats read with their pads again.
    resident = await load_resident(connection=db, resident_id=next(iter(scheme.truths)))
    assert resident is not None
    again = await compute_nights(connection=db, resident=resident, first=scheme.first, last=scheme.first,
                                 config=EvidenceConfig())
    assert again[0].method == "bed_sensor"


async def test_the_morning_run_reads_each_night_once_it_is_over(db: asyncpg.Connection, scheme: Scheme) -> None:
    """What `telecare run` does each morning: due nights read once, nothing early, triggers checked."""
    resident_id, truth = list(scheme.truths.items())[3]
    resident = await load_resident(connection=db, resident_id=resident_id)
    assert resident is not None
    await db.execute("DELETE FROM nightly_summary WHERE resident_id = $1", resident_id)
    config = EvidenceConfig()
    options = SchedulerOptions(org_id=resident.org_id, catch_up_nights=3)
    last = scheme.last
    over = night_window(night_of=last, start=resident.night_start, end=resident.night_end,
                        tz=resident.tz).end + timedelta(hours=config.night.tail_hours)
    stored = "SELECT night_of, bed_exits, computed_at FROM nightly_summary WHERE resident_id = $1 ORDER BY night_of"

    # A minute before the last night is over it is not read; the two before it are.
    runs = await morning_pass(connection=db, config=config, now=over - timedelta(minutes=1), options=options)
    assert [row["night_of"] for row in await db.fetch(stored, resident_id)] == [last - timedelta(days=2),
                                                                                last - timedelta(days=1)]
    assert resident_id in {run.resident_id for run in runs}

    busy = sum(t.bed_exits >= 1 for t in truth_nights(truth=truth)
               if (last - timedelta(days=2)).isoformat() <= t.night_of <= last.isoformat())
    assert busy >= 1, "the scenario should have nights with bed exits"
    await add_trigger(connection=db, org_id=resident.org_id, resident_id=resident_id, name="morning check",
                      feature="bed_exits", comparison=">=", threshold=1, min_nights=busy, window_nights=3)
    before = await db.fetch(stored, resident_id)
    runs = await morning_pass(connection=db, config=config, now=over + timedelta(minutes=1), options=options)
    after = await db.fetch(stored, resident_id)
    assert [row["night_of"] for row in after] == [last - timedelta(days=n) for n in (2, 1, 0)]
    # Nights already read are not read again.
    assert [row["computed_at"] for row in after[:2]] == [row["computed_at"] for row in before]
    mine = [run for run in runs if run.resident_id == resident_id]
    assert len(mine) == 1 and mine[0].nights == 1
    expected = {t.night_of: t.bed_exits for t in truth_nights(truth=truth)}
    assert after[2]["bed_exits"] == expected[last.isoformat()]
    reviews = await db.fetchval("SELECT count(*) FROM alerts WHERE resident_id = $1 AND condition = 'care_review'"
                                " AND run = 'live' AND detail->>'reason' LIKE '%of the last 3%'", resident_id)
    assert reviews == 1

    # A later pass the same morning has nothing to do.
    again = await morning_pass(connection=db, config=config, now=over + timedelta(minutes=6), options=options)
    assert [run for run in again if run.resident_id == resident_id] == []


async def test_alert_nights_are_the_nights_a_night_worker_following_the_care_plan_was_called(
    fresh_database_url: str, tmp_path: Path
) -> None:
    # Four flats, four weeks, every resident in a deterioration episode: nights up for an hour and late
    # bedtimes that a night worker following the care plan would have been called for, among quiet
    # nights and injected incidents. Ingested, rules replayed, nights read, against the truth's calls.
    from bench.evidence_accuracy import simulated  # noqa: PLC0415 - the bench's own pipeline

    figures = await simulated(url=fresh_database_url, residents=4, days=28, seed=5, replay_rules=True,
                              pir_only_share=0, truth_dir=tmp_path / "truth", deterioration_share=1.0)
    nights = figures["bed_sensor"]["alert_nights"]
    assert nights["judged"] >= 90
    assert nights["confusion"]["both"] >= 3 and nights["truth_alarm_nights_in_deterioration_episodes"] >= 1
    # Every judged night: an alert in the pack exactly when the care plan called for one.
    assert nights["exact_pct"] == 100.0, nights["disagreements"]
