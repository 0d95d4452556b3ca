"""Change detection and the evidence pack over a deterioration, against the simulator's own record."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import asyncpg
import httpx

from api.auth import Role, issue_token
from bench.evidence_load import Wire, ingest_in_process, provision
from models.change_store import list_suggestions, review_suggestion, score_and_suggest, train_and_store
from models.changes import explain, flag_days
from models.config import DetectorRules, EvidenceConfig
from models.detector import NotEnoughData, train
from models.feature_store import store_features
from models.features import FEATURE_NAMES, DayFeatures
from models.pack import build_pack
from models.render.html import render_html
from models.render.pdf import html_to_pdf
from rules.replay import replay_history
from rules.replay_operator import SimulatedOperator
from simulators.scenario import ScenarioConfig, scenario_messages, scenario_site
from simulators.truth import TruthWriter, load_truth_dir
from telecare.settings import Settings
from tests.api_helpers import ApiServer, api_server  # noqa: F401 - api_server is a fixture

START = date(2024, 1, 8)
USUAL = {"sleep_onset_min": 45.0, "wake_min": 510.0, "bedtime_change_min": 10.0, "bed_exits": 1.0,
         "minutes_out_of_bed": 8.0, "night_activity": 20.0, "night_bathroom_visits": 1.0, "night_minutes_out": 0.0,
         "day_minutes_out": 90.0, "kitchen_activity": 30.0, "bathroom_activity": 8.0, "interdaily_stability": 0.6,
         "intradaily_variability": 0.9}


def _day(index: int, *, later_to_bed: float = 0.0, known: bool = True) -> DayFeatures:
    # Small deterministic wobble so the usual days are not all identical.
    wobble = ((index * 7) % 5 - 2) / 2
    values: dict[str, float | None] = {k: v * (1 + 0.1 * wobble) for k, v in USUAL.items()}
    values["sleep_onset_min"] = 45.0 + 10 * wobble + later_to_bed
    if not known:
        values = dict.fromkeys(FEATURE_NAMES)
    return DayFeatures(resident_id="r1", day=START + timedelta(days=index), values=values, hourly=(0,) * 24,
                       day_known=known, night_known=known)


def test_too_little_history_is_not_enough_data_not_a_guess() -> None:
    """Twenty known days and ten unknown ones: the detector says it cannot tell yet, and scores nothing."""
    days = [_day(i) for i in range(20)] + [_day(20 + i, known=False) for i in range(10)]
    model = train(resident_id="r1", days=days, train_first=START, train_last=START + timedelta(days=29),
                  rules=DetectorRules())
    assert model == NotEnoughData(20, 21, START, START + timedelta(days=29))
    flags = flag_days(resident_id="r1", days=days, first=START, last=START + timedelta(days=29), rules=DetectorRules())
    assert flags.flagged == set() and flags.days_scored == 0


def test_a_week_of_late_bedtimes_is_flagged_and_said_in_minutes() -> None:
    """Bedtimes 100 minutes later from day 70: flagged within a week, and the explanation names the change."""
    days = [_day(i) for i in range(70)] + [_day(70 + i, later_to_bed=100.0) for i in range(14)]
    flags = flag_days(resident_id="r1", days=days, first=START + timedelta(days=42),
                      last=START + timedelta(days=83), rules=DetectorRules())
    assert flags.flagged, "a sustained change must be flagged"
    first = min(flags.flagged)
    assert START + timedelta(days=70) <= first <= START + timedelta(days=77)
    assert flags.explanations[first].startswith("bedtime: 100 min later than usual (since")
    assert explain(()).startswith("The week as a whole is unusual")


async def test_pack_over_a_deterioration_names_it_and_its_figures_add_up(fresh_database_url: str,
                                                                         tmp_path: Path) -> None:
    """A month's pack for a resident whose nights broke down (simulated, with the truth kept): the summary
    counts the same nights as the truth, every alert count agrees across the sections, responses run from
    raised to the operator's first action (45 s here, never negative), the change is named with its dates,
    and the PDF, rendered to an image, shows it."""
    config = ScenarioConfig(seed=31, residents=1, days=52, start=START, prefix="pk", org_id="pk-org",
                            deterioration_share=1.0, episode_kinds=("mixed",), episode_earliest_day=36,
                            incidents_per_month=1.5, faults_per_month=0.0)
    connection = await asyncpg.connect(fresh_database_url)
    try:
        await provision(connection=connection, site=scenario_site(config=config))
        truth_dir = tmp_path / "truth"
        truth_dir.mkdir()
        loaded = await ingest_in_process(
            connection=connection, settings=Settings(database_url=fresh_database_url, dev_mode=True,
                                                     max_event_age_s=10**9),
            messages=(Wire(m.time, m.topic, m.payload)
                      for m in scenario_messages(config=config, truth=TruthWriter(directory=truth_dir))))
        assert loaded.dead_letters == 0
        truth = next(iter(load_truth_dir(directory=truth_dir).values()))
        operator = SimulatedOperator(close_after=timedelta(minutes=20), answer_after=timedelta(seconds=45))
        since = datetime.combine(START, time(0), tzinfo=config.tz)
        await replay_history(connection=connection, run="pack", since=since, until=since + timedelta(days=53),
                             resident_ids=[truth.resident_id], operator=operator)
        first, last = START + timedelta(days=33), START + timedelta(days=50)
        pack = (await build_pack(connection=connection, resident_id=truth.resident_id, first=first, last=last,
                                 config=EvidenceConfig(alerts_run="pack"))).as_json()
    finally:
        await connection.close()

    # The change is named, and it is the simulator's episode: it begins within a week of the true onset.
    episode = truth.episodes[0]
    onset, end = episode.start.date(), (episode.end or episode.start).date()
    named = pack["change_detection"]["episodes"]
    assert pack["change_detection"]["status"] == "changes", pack["change_detection"]
    assert any(onset - timedelta(days=3) <= date.fromisoformat(e["start"]) <= onset + timedelta(days=7)
               and date.fromisoformat(e["end"]) >= onset for e in named), (onset, end, named)
    assert any(line.startswith(f"A change of routine from {named[0]['start']}") for line in pack["summary"])

    # The headline counts the nights the truth counts: up for more than an hour, this period and the baseline.
    truth_up = {n.night_of: n.minutes_out_of_bed > 60 for n in truth.nights}
    read = {date.fromisoformat(n["night_of"]) for n in pack["nights"] if n["status"] == "ok"}
    up_now = sum(truth_up[d] for d in read)
    headline = pack["summary"][0]
    assert headline.startswith(f"Up for more than an hour in the night on {up_now} of {len(read)} nights;"), headline
    assert up_now >= 3, "the episode should break several nights"

    # One alert list behind every count: summary, timeline, by hour, by type and the nights agree.
    counts, shown = pack["alert_counts"], [a for a in pack["alerts"] if a["counted"]]
    assert counts["total"] == len(shown) == sum(pack["alerts_by_hour"].values()) == sum(counts["by_type"].values())
    assert counts["at_night"] == sum(n["alerts_total"] for n in pack["nights"]) == pack["current"]["alerts_total"]
    assert counts["total"] == counts["at_night"] + counts["by_day"] and counts["total"] >= 1
    assert f"{counts['total']} alert" in " ".join(pack["summary"])
    # Responses: raised to the simulated operator's first action, 45 s; never negative.
    responses = [a["response_s"] for a in shown if a["response_s"] is not None]
    assert responses and all(r == 45.0 for r in responses), responses
    assert pack["current"]["response_s_median"] == 45.0 and counts["response_s_median"] == 45.0
    assert "?" in pack["review_question"] and "decides" in pack["review_question"]

    # Rendered as a person sees it: the PDF page as an image (LOOKED AT during development, kept in tmp_path).
    html = render_html(pack=pack)
    assert "not_recorded" not in html and "No support model is recorded" in html
    pdf_bytes = await html_to_pdf(html=html)
    pages = _pdf_pages_as_png(pdf=pdf_bytes, folder=tmp_path)
    # A blank A4 page at 60 dpi is about 2 kB; the summary page and the activity chart are far more.
    assert len(pages) == 2 and pages[0].stat().st_size > 40_000 and pages[1].stat().st_size > 10_000


def _pdf_pages_as_png(*, pdf: bytes, folder: Path) -> list[Path]:
    """The first two pages as PNG images via poppler's pdftoppm (what a person would see)."""
    (folder / "pack.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(folder / "pack.pdf"),
                    str(folder / "page")], check=True, timeout=60)
    return sorted(folder.glob("page-*.png"))


async def _two_residents(*, db: asyncpg.Connection, unique: str) -> tuple[str, str]:
    """Two residents with stored features: six weeks of usual days then a week of late bedtimes; ten days."""
    config = ScenarioConfig(seed=1, residents=2, days=1, start=START, prefix=f"q{unique[:6]}",
                            org_id=f"q{unique[:6]}-org")
    await provision(connection=db, site=scenario_site(config=config))
    steady, newcomer = config.resident_id(0), config.resident_id(1)
    rows = [replace(_day(i, later_to_bed=100.0 if i >= 63 else 0.0), resident_id=steady) for i in range(70)]
    rows += [replace(_day(60 + i), resident_id=newcomer) for i in range(10)]
    await store_features(connection=db, features=rows)
    return steady, newcomer


async def test_a_persistent_change_becomes_one_suggestion_a_reviewer_answers(db: asyncpg.Connection,
                                                                             unique: str) -> None:
    """Stored features of two residents: one with six weeks of usual days then a week of late bedtimes gets
    one open suggestion (extended, not repeated, the next morning); the one with ten days gets "not enough
    data" and nothing; a reviewer's dismissal is stored and listed with the suggestion."""
    steady, newcomer = await _two_residents(db=db, unique=unique)
    rules = DetectorRules()
    last = START + timedelta(days=69)
    trained = {rid: await train_and_store(connection=db, resident_id=rid, as_of=START + timedelta(days=63),
                                          rules=rules) for rid in (steady, newcomer)}
    assert trained[steady][2] == "ready" and trained[newcomer][2] == "not_enough_data"
    first = await score_and_suggest(connection=db, resident_ids=[steady, newcomer], day=last - timedelta(days=1),
                                    rules=rules)
    again = await score_and_suggest(connection=db, resident_ids=[steady, newcomer], day=last, rules=rules)
    assert (first["raised"], again["raised"], again["extended"]) == (1, 0, 1)
    assert first["not_enough_data"] == 1
    listed = await list_suggestions(connection=db, resident_id=steady)
    assert len(listed) == 1 and listed[0]["status"] == "open" and listed[0]["last_day"] == last
    assert "bedtime:" in listed[0]["explanation"] and "later than usual" in listed[0]["explanation"]
    assert listed[0]["train_last"] == START + timedelta(days=56)
    assert await list_suggestions(connection=db, resident_id=newcomer) == []
    await review_suggestion(connection=db, suggestion_id=listed[0]["suggestion_id"], decision="dismissed",
                            reviewer="SW Patel", note="new evening job")
    shown = (await list_suggestions(connection=db, resident_id=steady))[0]
    assert (shown["status"], shown["reviewed_by"], shown["review_note"]) == ("dismissed", "SW Patel",
                                                                              "new evening job")


async def test_suggestions_over_http_are_scoped_answered_once_and_audited(
    db: asyncpg.Connection, unique: str, api_server: ApiServer,  # noqa: F811
) -> None:
    """Provider staff see the resident's suggestion and dismiss it once (a second answer is refused);
    a reviewer not assigned to the resident gets the same 404 as for nobody; each call is audited."""
    steady, _ = await _two_residents(db=db, unique=unique)
    rules = DetectorRules()
    await train_and_store(connection=db, resident_id=steady, as_of=START + timedelta(days=63), rules=rules)
    for back in (1, 0):
        await score_and_suggest(connection=db, resident_ids=[steady], day=START + timedelta(days=69 - back),
                                rules=rules)
    org_id = await db.fetchval("SELECT org_id FROM residents WHERE resident_id = $1", steady)
    provider = await issue_token(connection=db, user_id=f"prov-{unique}", role=Role.PROVIDER, org_ids=[org_id],
                                 resident_ids=[])
    stranger = await issue_token(connection=db, user_id=f"sw-{unique}", role=Role.REVIEWER, org_ids=[org_id],
                                 resident_ids=[])
    answer = {"decision": "dismissed", "reviewer": "SW Patel", "note": "new evening job"}
    async with httpx.AsyncClient(base_url=api_server.base_url, timeout=30) as http:
        def auth(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        listed = (await http.get(f"/api/reports/residents/{steady}/suggestions", headers=auth(provider))).json()
        assert [s["status"] for s in listed] == ["open"] and "bedtime:" in listed[0]["explanation"]
        path = f"/api/reports/residents/{steady}/suggestions/{listed[0]['suggestion_id']}/review"
        assert (await http.post(path, json=answer, headers=auth(stranger))).status_code == 404
        assert (await http.post(path, json=answer, headers=auth(provider))).status_code == 204
        assert (await http.post(path, json=answer, headers=auth(provider))).status_code == 409
        shown = (await http.get(f"/api/reports/residents/{steady}/suggestions", headers=auth(provider))).json()
        assert (shown[0]["status"], shown[0]["reviewed_by"]) == ("dismissed", "SW Patel")
    actions = [r["action"] for r in await db.fetch(
        "SELECT action FROM audit_log WHERE user_id = $1 AND outcome = 'allowed' ORDER BY audit_id", f"prov-{unique}")]
    assert actions.count("reports.review_suggestion") == 1 and actions.count("reports.suggestions") == 2
