"""Realism: simulated nights fall in the configured ranges, agree with the sensors, and Z2M payloads are real."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime
from typing import Any

import orjson
import pytest

from simulators.profile import ProfileRanges
from simulators.scenario import ScenarioConfig, scenario_messages
from simulators.stimuli import WireMessage

# docs/domain.md section 2, device table: each model's own fields, plus what every Z2M message may carry.
DOMAIN_FIELDS: dict[str, set[str]] = {
    "RTCGQ11LM": {"occupancy", "illuminance", "battery", "voltage"},
    "MCCGQ11LM": {"contact", "battery", "voltage"},
    "SJCGQ11LM": {"water_leak", "battery_low", "tamper", "battery", "voltage"},
    "HS1SA": {"smoke", "test", "battery_low", "tamper", "battery"},
    "TS0215A_sos": {"action", "battery"},
    "MIR-HE200-TY": {"fall_down_status"},
    "SPM915": {"pressure", "battery"},
    "WSDCGQ11LM": {"temperature", "humidity", "battery", "voltage"},
    "TS011F_plug_1": {"state", "power", "voltage", "energy"},
}
COMMON = {"linkquality", "last_seen"}
BOOLEAN = {"occupancy", "contact", "water_leak", "smoke", "test", "battery_low", "tamper", "pressure"}

RANGES = ProfileRanges()


@pytest.fixture(scope="module")
def month() -> tuple[ScenarioConfig, list[WireMessage], list[dict[str, Any]]]:
    """20 stable residents, three weeks, no incidents: the baseline the ranges describe."""
    config = ScenarioConfig(seed=2024, residents=20, days=21, start=date(2025, 1, 6), deterioration_share=0.0,
                            incidents_per_month=0.0, faults_per_month=0.0, prefix="real")
    records: list[dict[str, Any]] = []
    messages = list(scenario_messages(config=config, truth=records.append))
    return config, messages, records


def _minutes_after_noon(stamp: str) -> float:
    moment = datetime.fromisoformat(stamp)
    minutes = moment.hour * 60 + moment.minute
    return minutes - 720 if minutes >= 720 else minutes + 720


def test_sleep_onset_bathroom_visits_and_door_exits_fall_in_configured_ranges(month: Any) -> None:
    _, _, records = month
    nights: dict[str, list[dict[str, Any]]] = defaultdict(list)
    days: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record["record"] == "night":
            nights[record["resident_id"]].append(record)
        elif record["record"] == "day":
            days[record["resident_id"]].append(record)
    assert len(nights) == 20
    low_bed, high_bed = (bound - 720 for bound in RANGES.bedtime_mean_min)
    weekend = RANGES.weekend_shift_min[1] * 2 / 7
    onsets = []
    for resident, resident_nights in nights.items():
        mean_onset = statistics.mean(_minutes_after_noon(night["sleep_onset"]) for night in resident_nights)
        onsets.append(mean_onset)
        # The resident's own mean, plus weekend lateness and noise, stays inside the configured range.
        assert low_bed - 20 <= mean_onset <= high_bed + weekend + 20, resident
        visits = statistics.mean(night["bathroom_visits"] for night in resident_nights)
        assert visits <= RANGES.night_exits_per_night[1] + 0.6, resident
        outings = statistics.mean(len(day["door_exits"]) for day in days[resident])
        assert outings <= RANGES.outings_per_day[1] * RANGES.weekend_outing_factor[1] + 0.6, resident
    # Across the population the spread is real, not one routine copied 20 times.
    assert statistics.pstdev(onsets) > 20
    every_night = [night for resident_nights in nights.values() for night in resident_nights]
    per_night = statistics.mean(night["bathroom_visits"] for night in every_night)
    share_low, share_high = RANGES.bathroom_share
    exits_low, exits_high = RANGES.night_exits_per_night
    assert exits_low * share_low * 0.8 <= per_night <= exits_high * share_high
    every_day = [day for resident_days in days.values() for day in resident_days]
    door = statistics.mean(len(day["door_exits"]) for day in every_day)
    assert RANGES.outings_per_day[0] * RANGES.weekend_outing_factor[0] * 0.8 <= door <= RANGES.outings_per_day[1]
    assert sum(night["bathroom_visits"] == 0 for night in every_night) > len(every_night) * 0.1


def test_the_sensors_tell_the_same_story_as_the_truth(month: Any) -> None:
    config, messages, records = month
    bed_presses: dict[str, list[str]] = defaultdict(list)
    door_opens: dict[str, int] = defaultdict(int)
    previous: dict[str, Any] = {}
    for message in messages:
        hub, _, name = message.topic.removeprefix("z2m/").partition("/")
        if name == "bedroom/bed mat":
            pressure = orjson.loads(message.payload)["pressure"]
            if pressure and previous.get(message.topic) is False:
                bed_presses[hub].append(datetime.fromtimestamp(round(message.time), config.tz).isoformat())
            previous[message.topic] = pressure
        elif name == "front door":
            contact = orjson.loads(message.payload)["contact"]
            if contact is False and previous.get(message.topic) is True:
                door_opens[hub] += 1
            previous[message.topic] = contact
    for index in range(config.residents):
        resident, hub = config.resident_id(index), config.hub_id(index)
        nights = [r for r in records if r["record"] == "night" and r["resident_id"] == resident]
        days = [r for r in records if r["record"] == "day" and r["resident_id"] == resident]
        # Every truth onset and every return from a bed exit is a bed-mat press at exactly that second.
        expected = sorted([n["sleep_onset"] for n in nights] + [e["end"] for n in nights for e in n["bed_exits"]])
        # The run starts at midnight with everyone already in bed: that first press is no night's onset.
        pressed = sorted(stamp[:19] for stamp in bed_presses[hub] if stamp[:19] >= expected[0][:19])
        assert [stamp[:19] for stamp in expected] == pressed, resident
        outings = sum(len(day["door_exits"]) for day in days) + sum(len(n["door_exits"]) for n in nights)
        visits = sum(len(day["visits"]) for day in days)
        # Each outing and each visit opens the door twice (out and back, arrive and leave).
        assert door_opens[hub] >= 2 * (outings + visits) - 2 * sum(
            len(n["door_exits"]) for n in nights)


def test_every_z2m_payload_has_the_fields_domain_md_lists(month: Any) -> None:
    _, messages, _ = month
    models: dict[str, str] = {}
    for message in messages:
        if message.topic.endswith("/bridge/devices"):
            hub = message.topic.split("/")[1]
            for entry in orjson.loads(message.payload):
                if entry["type"] != "Coordinator":
                    models[f"z2m/{hub}/{entry['friendly_name']}"] = entry["definition"]["model"]
    checked = 0
    for message in messages:
        if message.topic not in models:
            continue
        payload = orjson.loads(message.payload)
        model = models[message.topic]
        extra = set(payload) - DOMAIN_FIELDS[model] - COMMON
        assert not extra, (model, extra)
        assert DOMAIN_FIELDS[model] & set(payload) or model == "TS0215A_sos", model
        for field in BOOLEAN & set(payload):
            assert isinstance(payload[field], bool), (model, field)
        if "battery" in payload:
            assert isinstance(payload["battery"], int) and 0 <= payload["battery"] <= 100
        if "voltage" in payload:
            bounds = (200, 260) if model == "TS011F_plug_1" else (2500, 3300)
            assert bounds[0] <= payload["voltage"] <= bounds[1], (model, payload["voltage"])
        assert payload["last_seen"].endswith("Z") and abs(
            datetime.fromisoformat(payload["last_seen"]).timestamp() - message.time) < 0.001
        checked += 1
    assert checked > 100_000 and len(set(models.values())) == len(DOMAIN_FIELDS)
    assert any("/" in name.split("/", 2)[2] for name in models)


def test_occupancy_clears_90_s_after_the_last_detection(month: Any) -> None:
    _, messages, _ = month
    rising: dict[str, float] = {}
    last_true: dict[str, float] = {}
    clears = 0
    for message in messages:
        if not message.topic.endswith("/motion"):
            continue
        occupancy = orjson.loads(message.payload)["occupancy"]
        if occupancy:
            rising.setdefault(message.topic, message.time)
            last_true[message.topic] = message.time
        elif message.topic in rising:
            # Heartbeats repeat the cached `true`, so the clear is at most 90 s after the last true message
            # and never sooner than 90 s after the detection that raised it.
            assert message.time - rising.pop(message.topic) >= 90.0 - 0.01
            assert message.time - last_true.pop(message.topic) <= 90.0 + 0.01
            clears += 1
    assert clears > 10_000
