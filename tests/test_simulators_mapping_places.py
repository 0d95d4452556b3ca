"""Recorded homes keyed by sensor and place: same-named sensors in different rooms stay separate devices."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from simulators.mapping import Mapping, MappingError
from simulators.replay import plan_replay, replay_site

LOG = """Start time          \tEnd time            \tLocation\tType\t\tPlace
--------------------\t--------------------\t--------\t--------\t-----
2024-03-04 23:10:00\t\t2024-03-04 23:10:30\t\tDoor\t\tPIR\t\tBedroom
2024-03-05 07:01:00\t\t2024-03-05 07:01:20\t\tDoor\t\tPIR\t\tKitchen
2024-03-05 07:03:00\t\t2024-03-05 07:03:05\t\tToilet\t\tFlush\t\tBathroom
2024-03-05 09:00:00\t\t2024-03-05 09:40:00\t\tDesk\t\tPIR\t\tStudy
2024-03-05 10:00:00\t\t2024-03-05 10:00:04\t\tMaindoor\tMagnetic\tEntrance
2024-03-05 10:00:02\t\t2024-03-05 10:00:30\t\tMaindoor\tPIR\t\tEntrance
"""


def _mapping(sensors: dict[str, dict[str, Any]]) -> Mapping:
    return Mapping.model_validate({"schema": "telecare.mapping/1", "format": "ordonez",
                                   "home": {"hub_id": "h-places", "resident_id": "r-places"}, "sensors": sensors})


def _plan(tmp_path: Path, mapping: Mapping) -> dict[str, Any]:
    log = tmp_path / "sensors.txt"
    log.write_text(LOG, encoding="utf-8")
    plan, summary = plan_replay(fmt="ordonez", sensors=log, labels=None, mapping=mapping, shift=None, now=time.time(),
                                source="places")
    return {"devices": sorted({s.device for s in plan.stimuli}), "summary": summary}


PLACED = {
    "Door/Bedroom": {"friendly_name": "bedroom/door motion", "type": "pir", "location": "bedroom",
                     "behaviour": "motion"},
    "Door/PIR/Kitchen": {"friendly_name": "kitchen/door motion", "type": "pir", "location": "kitchen",
                         "behaviour": "motion"},
    "Toilet": {"friendly_name": "bathroom/flush", "type": "toilet_flush", "location": "bathroom",
               "behaviour": "vibration"},
    "Desk": {"friendly_name": "study/desk motion", "type": "pir", "location": "study", "behaviour": "motion"},
    "Maindoor/Magnetic/Entrance": {"friendly_name": "front door", "type": "door", "location": "front_door",
                                   "behaviour": "contact"},
    "Maindoor/PIR/Entrance": {"friendly_name": "hall motion", "type": "pir", "location": "hallway",
                              "behaviour": "motion"},
}


def test_same_named_sensors_in_different_places_stay_separate(tmp_path: Path) -> None:
    planned = _plan(tmp_path, _mapping(PLACED))
    assert planned["devices"] == ["bathroom/flush", "bedroom/door motion", "front door", "hall motion",
                                  "kitchen/door motion", "study/desk motion"]
    assert planned["summary"]["unknown_sensors"] == {}
    site = replay_site(mapping=_mapping(PLACED), protocol="z2m")
    devices = {d["friendly_name"]: (d["type"], d["location"]) for d in site["residents"][0]["hubs"][0]["devices"]}
    assert devices["study/desk motion"] == ("pir", "study")
    assert devices["bathroom/flush"] == ("toilet_flush", "bathroom")


def test_a_mapping_that_would_merge_sensors_is_refused(tmp_path: Path) -> None:
    by_name = {**{k: v for k, v in PLACED.items() if not k.startswith("Door")},
               "Door": {"friendly_name": "door motion", "type": "pir", "location": "hallway", "behaviour": "motion"}}
    with pytest.raises(MappingError, match="'Door' is recorded as"):
        _plan(tmp_path, _mapping(by_name))
    same_device = {**PLACED,
                   "Maindoor/PIR/Entrance": {**PLACED["Maindoor/PIR/Entrance"], "friendly_name": "front door"}}
    with pytest.raises(ValueError, match="would merge into one device"):
        _mapping(same_device)
