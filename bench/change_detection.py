"""Must-show 1 and 2 of issue 12: change detection against the simulator's own record of deterioration.

    PYTHONPATH=. .venv/bin/python -m bench.change_detection --residents 40 --days 120 --seed 21 \
        [--ordonez /path/to/ordonez_a] > bench/results/change_detection_40x120_seed21.json

A cohort is simulated (half the residents deteriorate, one of four kinds each: mixed, sleep timing
only, broken nights only, withdrawal by day only; onsets from day 35 so there is history to learn
from), loaded through the ingest code in-process, its nights and daily features computed by the
product's code, and then every day is scored as the product would score it that morning: the
scikit-learn detector retrained weekly on the resident's own earlier days (flagged days left out),
and the existing median/MAD routine-change flags (last 14 nights against the 28 before). Flags are
grouped into runs (one review suggestion each).

Truth comes only from the simulator's truth files: each episode's onset, end and kind, and which
residents had none. An episode is flagged in time when a run is active on a day from its onset to
onset + 7; a run that starts between an episode's onset and 7 days after its end is a true flag;
any other run is a false flag. Episodes whose onset comes before the detector could have learnt
anything are reported apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.evidence_load import Wire, ingest_in_process, provision
from models.baseline import routine_flags
from models.changes import explain, flag_days, persistent, score_day, train_on
from models.config import BaselineRules, DetectorRules, EvidenceConfig
from models.detector import ChangeModel
from models.feature_store import compute_features, store_features
from models.features import DayFeatures
from models.nightly import NightSummary, ensure_nights, load_resident
from telecare.db.migrate import migrate
from telecare.settings import Settings

ADMIN_URL = os.environ.get("TELECARE_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
KINDS = ("mixed", "sleep_timing", "broken_nights", "withdrawal")
IN_TIME_DAYS = 7
MAPPING = Path(__file__).resolve().parent.parent / "simulators" / "mappings" / "ordonez_a.yaml"
# Flags within this many days of each other are one suggestion (one question for a reviewer).
RUN_GAP_DAYS = 7


@dataclass(frozen=True, slots=True)
class Episode:
    """A deterioration as the simulator recorded it."""

    resident_id: str
    kind: str
    onset: date
    end: date


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def episodes_from_truth(truth_dir: Path) -> tuple[list[Episode], list[str], list[str]]:
    """Episodes, all residents, and residents without any episode, from the truth files alone."""
    episodes, residents, stable = [], [], []
    for path in sorted(truth_dir.glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        resident_id = lines[0]["resident_id"]
        residents.append(resident_id)
        mine = [Episode(resident_id, r.get("kind", "mixed"), _day(r["start"]), _day(r["end"]))
                for r in lines if r.get("record") == "deterioration"]
        episodes += mine
        if not mine:
            stable.append(resident_id)
    return episodes, residents, stable


def detector_flags(*, resident_id: str, days: Sequence[DayFeatures], first: date, last: date,
                   rules: DetectorRules) -> tuple[set[date], dict[date, str], dict[str, int]]:
    """The product's own morning scoring (models.changes.flag_days) over the whole span."""
    result = flag_days(resident_id=resident_id, days=days, first=first, last=last, rules=rules)
    return result.flagged, result.explanations, {"days_scored": result.days_scored,
                                                 "days_not_enough_data": result.days_not_enough_data}


def median_mad_flags(*, nights: Sequence[NightSummary], first: date, last: date,
                     rules: BaselineRules) -> tuple[set[date], dict[date, str]]:
    """The existing routine-change flags evaluated each morning: last 14 nights against the 28 before."""
    by_day = {n.night_of: n for n in nights}
    flagged: set[date] = set()
    words: dict[date, str] = {}
    day = first
    while day <= last:
        recent_first = day - timedelta(days=rules.recent_nights - 1)
        base_first = recent_first - timedelta(days=rules.baseline_nights)
        recent = [by_day[d] for d in _dates(recent_first, day) if d in by_day]
        base = [by_day[d] for d in _dates(base_first, recent_first - timedelta(days=1)) if d in by_day]
        flags = routine_flags(baseline=base, recent=recent, rules=rules)
        if flags:
            flagged.add(day)
            words[day] = "; ".join(f.explanation for f in flags)
        day += timedelta(days=1)
    return flagged, words


def _dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def count_flag_spells(*, flagged: Iterable[date]) -> list[tuple[date, date]]:
    """The yardstick's own counting of flags (not models.changes): flagged days closer than a week apart
    are one spell, as a reviewer would read "flagged again the next week" as the same concern."""
    spells: list[tuple[date, date]] = []
    for day in sorted(set(flagged)):
        if spells and (day - spells[-1][1]).days <= RUN_GAP_DAYS + 1:
            spells[-1] = (spells[-1][0], day)
        else:
            spells.append((day, day))
    return spells


def judge(*, flagged: dict[str, set[date]], episodes: Sequence[Episode], residents: Sequence[str],
          stable: Sequence[str], scored_from: date, last: date, learnable_from: date) -> dict[str, Any]:
    """Precision, recall and time to detection against the truth's episodes."""
    runs = {rid: count_flag_spells(flagged=days) for rid, days in flagged.items()}
    judged = [e for e in episodes if e.onset >= learnable_from]
    per_episode: list[dict[str, Any]] = []
    for episode in judged:
        active = sorted(d for d in flagged.get(episode.resident_id, set())
                        if episode.onset <= d <= episode.end + timedelta(days=IN_TIME_DAYS))
        delay = (active[0] - episode.onset).days if active else None
        per_episode.append({"resident_id": episode.resident_id, "kind": episode.kind,
                            "onset": episode.onset.isoformat(), "end": episode.end.isoformat(),
                            "days_to_flag": delay})
    true_runs = false_runs = 0
    false_in_stable = 0
    false_list = []
    for rid, resident_runs in runs.items():
        mine = [e for e in episodes if e.resident_id == rid]
        for run in resident_runs:
            if any(e.onset <= run[0] <= e.end + timedelta(days=IN_TIME_DAYS) for e in mine):
                true_runs += 1
            else:
                false_runs += 1
                false_in_stable += int(rid in stable)
                false_list.append({"resident_id": rid, "first": run[0].isoformat(), "last": run[1].isoformat()})
    delays = [p["days_to_flag"] for p in per_episode if p["days_to_flag"] is not None]
    in_time = sum(1 for d in delays if d <= IN_TIME_DAYS)
    stable_days = len(stable) * ((last - scored_from).days + 1)
    by_kind: dict[str, dict[str, int]] = {}
    for kind in KINDS:
        of_kind = [p for p in per_episode if p["kind"] == kind]
        if of_kind:
            by_kind[kind] = {"episodes": len(of_kind),
                             "flagged_within_7_days": sum(1 for p in of_kind if p["days_to_flag"] is not None
                                                          and p["days_to_flag"] <= IN_TIME_DAYS),
                             "flagged_at_all": sum(1 for p in of_kind if p["days_to_flag"] is not None)}
    total_runs = true_runs + false_runs
    return {
        "episodes_judged": len(judged),
        "episodes_before_enough_history": len(episodes) - len(judged),
        "flagged_within_7_days": in_time,
        "recall_within_7_days_pct": round(100 * in_time / len(judged), 1) if judged else None,
        "recall_at_all_pct": round(100 * len(delays) / len(judged), 1) if judged else None,
        "days_to_detection": {"median": statistics.median(delays) if delays else None,
                              "max": max(delays) if delays else None, "all": sorted(delays)},
        "flag_runs": total_runs, "true_flag_runs": true_runs, "false_flag_runs": false_runs,
        "precision_pct": round(100 * true_runs / total_runs, 1) if total_runs else None,
        "stable_residents": len(stable), "stable_resident_days_scored": stable_days,
        "false_flags_in_stable_residents": false_in_stable,
        "false_flags_per_stable_resident_per_60_days": round(60 * false_in_stable / stable_days, 3)
        if stable_days else None,
        "by_kind": by_kind, "episodes": per_episode, "false_flags": false_list,
    }


async def load_cohort(*, url: str, residents: int, days: int, seed: int, truth_dir: Path) -> dict[str, Any]:
    """Simulate the cohort and store it through the ingest code."""
    from simulators.scenario import ScenarioConfig, scenario_messages, scenario_site  # noqa: PLC0415
    from simulators.truth import TruthWriter  # noqa: PLC0415

    config = ScenarioConfig(seed=seed, residents=residents, days=days, start=date(2024, 1, 8), prefix="chg",
                            deterioration_share=0.5, episode_kinds=KINDS, episode_earliest_day=35)
    connection = await asyncpg.connect(url)
    try:
        await provision(connection=connection, site=scenario_site(config=config))
        loaded = await ingest_in_process(
            connection=connection, settings=Settings(database_url=url, dev_mode=True, max_event_age_s=10**9),
            messages=(Wire(m.time, m.topic, m.payload)
                      for m in scenario_messages(config=config, truth=TruthWriter(directory=truth_dir))))
    finally:
        await connection.close()
    return {"messages": loaded.messages, "events": loaded.events, "dead_letters": loaded.dead_letters,
            "seconds": round(loaded.seconds, 1)}


Flags = dict[str, set[date]]


async def evaluate(*, url: str, residents: Sequence[str], first: date, last: date, config: EvidenceConfig,
                   progress: Callable[[str], None]) -> tuple[Flags, Flags, dict[str, Any]]:
    """Features and nights for every resident, then both detectors day by day."""
    connection = await asyncpg.connect(url)
    detector: dict[str, set[date]] = {}
    mad: dict[str, set[date]] = {}
    notes: dict[str, Any] = {"not_enough_data_days": 0, "scored_days": 0, "examples": {}}
    started = time.perf_counter()
    try:
        for rid in residents:
            resident = await load_resident(connection=connection, resident_id=rid)
            assert resident is not None
            features = await compute_features(connection=connection, resident=resident, first=first, last=last,
                                              config=config)
            await store_features(connection=connection, features=features)
            nights = await ensure_nights(connection=connection, resident=resident, first=first, last=last,
                                         config=config)
            flagged, words, status = detector_flags(resident_id=rid, days=features, first=first, last=last,
                                                    rules=config.detector)
            detector[rid] = flagged
            notes["not_enough_data_days"] += status["days_not_enough_data"]
            notes["scored_days"] += status["days_scored"]
            if flagged and len(notes["examples"]) < 6:
                day = min(flagged)
                notes["examples"][rid] = {"day": day.isoformat(), "explanation": words[day]}
            mad[rid], _ = median_mad_flags(nights=nights, first=first, last=last, rules=config.baseline)
            progress(f"{rid}: detector {len(flagged)} days, median/MAD {len(mad[rid])} days")
    finally:
        await connection.close()
    notes["seconds"] = round(time.perf_counter() - started, 1)
    return detector, mad, notes


async def ordonez(*, url: str, data: Path, config: EvidenceConfig) -> dict[str, Any]:
    """The recorded home: the product's answer with its own rules, and a short-history check."""
    from simulators.mapping import load_mapping  # noqa: PLC0415
    from simulators.replay import plan_replay, replay_messages, replay_site  # noqa: PLC0415
    from simulators.z2m import Z2mOptions  # noqa: PLC0415

    home = load_mapping(path=MAPPING)
    sensors = next(data.glob("*Sensors*.txt"))  # noqa: ASYNC240 - a bench, nothing else runs
    labels = next(data.glob("*ADLs*.txt"))  # noqa: ASYNC240
    plan, _ = plan_replay(fmt="ordonez", sensors=sensors, labels=labels, mapping=home, shift=None,
                          now=time.time(), source=f"ordonez:{sensors.name}")
    connection = await asyncpg.connect(url)
    try:
        site = replay_site(mapping=home, protocol="z2m")
        await provision(connection=connection, site=site)
        await ingest_in_process(connection=connection, settings=Settings(database_url=url, dev_mode=True,
                                                                         max_event_age_s=10**9),
                                messages=(Wire(m.time, m.topic, m.payload) for m in
                                          replay_messages(plan=plan, mapping=home, protocol="z2m",
                                                          options=Z2mOptions())))
        rid = home.home.resident_id
        span = await connection.fetchrow("SELECT min(time) AS a, max(time) AS b FROM events WHERE resident_id = $1",
                                         rid)
        resident = await load_resident(connection=connection, resident_id=rid)
        assert resident is not None and span is not None
        first = span["a"].astimezone(resident.tz).date()
        last = span["b"].astimezone(resident.tz).date() - timedelta(days=1)
        features = await compute_features(connection=connection, resident=resident, first=first, last=last,
                                          config=config)
    finally:
        await connection.close()
    product, _, status = detector_flags(resident_id=rid, days=features, first=first, last=last, rules=config.detector)
    # With only two weeks recorded the product says "not enough data". To see whether the detector
    # would call this stable person's ordinary variation a change, train on the first 9 days and score
    # each later day's 5-day window (the first windows overlap training by up to 4 days; the last two
    # do not). Less history than the product needs makes surprises likelier, not rarer.
    short = replace(config.detector, min_training_days=5, training_days=9, guard_days=0, window_days=5,
                    min_window_days=3)
    trained = train_on(resident_id=rid, days=features, as_of=first + timedelta(days=8), excluded=set(), rules=short)
    short_flags: list[dict[str, Any]] = []
    scores: list[dict[str, Any]] = []
    beyond: list[bool] = []
    if isinstance(trained, ChangeModel):
        for day in _dates(first + timedelta(days=9), last):
            scored = score_day(model=trained, days=features, day=day, rules=short)
            scores.append({"day": day.isoformat(), "score": scored.score, "threshold": scored.threshold})
            beyond.append(scored.flagged)
            if persistent(beyond=beyond, rules=short):
                short_flags.append({"day": day.isoformat(), "explanation": explain(scored.changes)})
    known = sum(1 for f in features if f.night_known and f.day_known)
    return {"resident_id": rid, "first_day": first.isoformat(), "last_day": last.isoformat(),
            "days": len(features), "days_fully_known": known,
            "product_rules": {"flags": len(product), "days_not_enough_data": status["days_not_enough_data"],
                              "answer": "not enough data" if status["days_scored"] == 0 else "scored"},
            "short_history_check": {"trained_on_complete_days": getattr(trained, "days_used", 0),
                                    "trained": isinstance(trained, ChangeModel),
                                    "flag_runs": len(count_flag_spells(flagged=[_day(f["day"]) for f in short_flags])),
                                    "flagged_days": short_flags, "scores": scores}}


def _log(message: str) -> None:
    sys.stderr.write(message + "\n")


async def main(argv: list[str] | None = None) -> int:
    """Run and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=40)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--ordonez", type=Path, help="folder with *Sensors*.txt and *ADLs*.txt (a recorded home)")
    parser.add_argument("--reuse-database", help="a database already holding this cohort (needs --truth-dir)")
    parser.add_argument("--truth-dir", type=Path, help="where the simulator's truth files are (or go)")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    config = EvidenceConfig()
    admin = await asyncpg.connect(ADMIN_URL)
    reuse = bool(args.reuse_database and args.truth_dir)
    name = args.reuse_database if reuse else f"change_det_{secrets.token_hex(3)}"
    if not reuse:
        await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    result: dict[str, Any] = {"started": datetime.now().astimezone().isoformat(timespec="seconds"),
                              "machine": "2 cores shared with other engineers' work (tests, benches) during the run",
                              "detector_rules": config.detector.__repr__(), "baseline_rules": repr(config.baseline)}
    try:
        await migrate(database_url=url)
        truth_dir = args.truth_dir or Path(f"/tmp/{name}_truth")
        truth_dir.mkdir(parents=True, exist_ok=True)
        if args.residents:
            if not reuse:
                result["load"] = await load_cohort(url=url, residents=args.residents, days=args.days,
                                                   seed=args.seed, truth_dir=truth_dir)
            episodes, residents, stable = episodes_from_truth(truth_dir)
            first = date(2024, 1, 8)
            last = first + timedelta(days=args.days - 2)
            detector, mad, notes = await evaluate(url=url, residents=residents, first=first, last=last,
                                                  config=config, progress=_log)
            # The detector can first score once it has min_training_days complete days before its guard.
            learnable = first + timedelta(days=config.detector.min_training_days + config.detector.guard_days + 7)
            scored_from = learnable

            def judged(flags: Flags) -> dict[str, Any]:
                return judge(flagged={r: {d for d in flags[r] if d >= scored_from} for r in residents},
                             episodes=episodes, residents=residents, stable=stable, scored_from=scored_from,
                             last=last, learnable_from=learnable)

            result["cohort"] = {"residents": len(residents), "days": args.days, "seed": args.seed,
                                "stable_residents": len(stable), "episodes": len(episodes),
                                "episode_kinds": sorted({e.kind for e in episodes}),
                                "judged_from": scored_from.isoformat(), "last_day": last.isoformat()}
            result["robust_covariance_detector"] = judged(detector)
            result["median_mad_flags"] = judged(mad)
            result["detector_notes"] = notes
        if args.ordonez:
            result["recorded_home"] = await ordonez(url=url, data=args.ordonez, config=config)
    finally:
        if args.keep_database or reuse:
            _log(f"kept database {name}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
